"""Ranking: deterministic prompt features, the weighted ranker, the judge, the optimizer and learning."""
