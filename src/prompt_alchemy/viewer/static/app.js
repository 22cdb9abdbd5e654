// Prompt Alchemy viewer: a small single-page app over the viewer's JSON routes. No dependencies, no CDN.
"use strict";

const $app = document.getElementById("app");
const VAR_RE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}|(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})/g;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}
const svgEl = (tag, attrs, ...children) => {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
};

// Every change the page makes carries this header (a cross-site form cannot send it) and a JSON body.
const WRITE_HEADERS = { "x-prompt-alchemy": "1" };
// A path segment or query value built from data (ids, labels, job ids): always percent-encoded.
const enc = encodeURIComponent;

async function api(path, options) {
  const opts = Object.assign({ credentials: "same-origin" }, options || {});
  opts.headers = Object.assign({}, opts.method && opts.method !== "GET" ? WRITE_HEADERS : {}, opts.headers || {});
  if (opts.body !== undefined && typeof opts.body !== "string") {
    opts.body = JSON.stringify(opts.body);
    opts.headers["content-type"] = "application/json";
  }
  // Paths are relative to the page: `/api/x` is /api/x for `prompt-alchemy view`, /viewer/api/x on the team server.
  const res = await fetch(path.replace(/^\//, ""), opts);
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && ME) {  // the team server's sign-in ended (expired, revoked): sign in again
    location.assign("login?next=" + enc(location.pathname + location.hash));
  }
  if (!res.ok) throw new Error((data.error && (data.error.message || data.error)) || `HTTP ${res.status}`);
  return data;
}

// Who is signed in (the team server only; `prompt-alchemy view` has no /api/me and shows nothing here).
let ME = null;
const mayAdminister = () => ME && (ME.role === "admin" || ME.role === "owner");
async function showUser() {
  const res = await fetch("api/me", { credentials: "same-origin" }).catch(() => null);
  if (!res || !res.ok) return;
  ME = await res.json();
  const projects = Object.keys(ME.projects || {});
  const choose = el("select", { id: "project", title: "project", onchange: async ev => {
    try { await api("/api/project", { method: "POST", body: { project: ev.target.value } }); location.hash = "#/"; location.reload(); }
    catch (e) { $app.prepend(errorBox(e)); }
  } }, projects.map(p => el("option", { value: p, selected: p === ME.project }, `${p} (${ME.projects[p]})`)));
  const out = el("button", { type: "button", class: "secondary", id: "sign-out", onclick: async () => {
    await api("/logout", { method: "POST" }).catch(() => null); location.assign("login");
  } }, "Sign out");
  document.querySelector("header").append(el("span", { class: "who", id: "who", "data-user": ME.user, "data-role": ME.role },
    `${ME.user} · `, choose, " ", out));
}

const short = (t, n) => { const s = (t || "").replace(/\s+/g, " ").trim(); return s.length > n ? s.slice(0, n - 1) + "…" : s; };
const phaseOf = p => p.phase || p.enhancement_method || p.source_type || "prompt";
const chips = (names, cls) => (names || []).map(n => el("span", { class: `chip ${cls || ""}`, "data-label": n }, n));
const errorBox = e => el("p", { class: "error", role: "alert" }, e.message || String(e));

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  document.querySelectorAll("nav a").forEach(a => a.classList.remove("active"));
  const parts = path.split("/").filter(Boolean);
  const page = parts[0] || "search";
  const nav = document.querySelector(`nav a[data-nav="${page === "prompt" ? "search" : page}"]`);
  if (nav) nav.classList.add("active");
  $app.replaceChildren();
  const pages = { search: searchPage, prompt: () => promptPage(decodeURIComponent(parts[1] || "")),
                  metrics: metricsPage, generate: generatePage, labels: labelsPage };
  (pages[page] || searchPage)(params).catch(e => $app.append(errorBox(e)));
}
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => showUser().finally(route));

// ---------------------------------------------------------------------------------------------------- search

async function searchPage(params) {
  const q = params.get("q") || "";
  const form = el("form", { class: "inline card", id: "search-form" },
    el("label", { class: "field", style: "flex:1 1 20rem" }, "Search",
      el("input", { name: "q", id: "q", value: q, placeholder: "words or a description", autofocus: true })),
    el("label", { class: "field" }, "Mode", select("mode", ["hybrid", "text", "semantic"], params.get("mode"))),
    el("label", { class: "field" }, "Phase", select("phase", ["", "prima-materia", "solutio", "coagulatio"], params.get("phase"))),
    el("label", { class: "field" }, "Provider", el("input", { name: "provider", value: params.get("provider") || "", size: 9 })),
    el("label", { class: "field" }, "Tag", el("input", { name: "tag", value: params.get("tag") || "", size: 9 })),
    el("label", { class: "field" }, "Min rating", select("min_rating", ["", "1", "2", "3", "4", "5"], params.get("min_rating"))),
    el("label", { class: "field" }, "Since", el("input", { name: "since", value: params.get("since") || "", size: 8, placeholder: "7d" })),
    el("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) next.set(k, v);
    location.hash = "#/search?" + next.toString();
  });
  const list = el("ul", { class: "results", id: "results" });
  $app.append(el("h1", {}, "Library"), form, el("div", { class: "card" }, list));
  const apiParams = new URLSearchParams(params);
  apiParams.set("limit", "30");
  const data = await api("/api/search?" + apiParams.toString());
  if (!data.results.length) list.append(el("li", { class: "muted" }, q ? "No matching prompts." : "The library is empty."));
  for (const r of data.results) {
    list.append(el("li", { class: "result" },
      el("a", { class: "title", href: `#/prompt/${enc(r.id)}` }, r.title || short(r.content, 70)),
      " ", el("span", { class: "muted" }, `${r.id.slice(0, 8)} · ${phaseOf(r)}${r.provider ? " · " + r.provider : ""}`
        + (r.score !== null && r.score !== undefined ? ` · score ${r.score.toFixed(2)}` : "")),
      " ", chips(r.labels, "label"), chips(r.tags),
      el("div", { class: "snippet" }, short(r.content, 220))));
  }
}

function select(name, options, value) {
  return el("select", { name }, options.map(o => el("option", { value: o, selected: o === (value || "") }, o || "any")));
}

// ---------------------------------------------------------------------------------------------------- a prompt

function highlighted(text) {
  const pre = el("pre", { class: "content", id: "content" });
  let last = 0;
  for (const m of text.matchAll(VAR_RE)) {
    pre.append(text.slice(last, m.index), el("mark", { class: "var", "data-var": m[1] || m[2] }, m[0]));
    last = m.index + m[0].length;
  }
  pre.append(text.slice(last));
  return pre;
}

async function promptPage(ref) {
  const data = await api(`/api/prompts/${enc(ref)}`);
  const p = data.prompt;
  $app.append(
    el("h1", {}, p.title || short(p.content, 80)),
    el("p", { class: "muted", id: "meta" }, `${p.id} · ${phaseOf(p)}`
      + (p.provider ? ` · ${p.provider}/${p.model}` : "") + ` · ${p.created_at.slice(0, 16).replace("T", " ")}`,
      " ", chips(p.tags)),
    data.named ? nameCard(p, data.named) : labelsCard(p, data.labels),
    el("div", { class: "card" }, el("h2", {}, "Content"), highlighted(p.content)),
    fillCard(p, data.variables),
    el("div", { class: "grid" }, ratingCard(p, data.rating, data.feedback), scoreCard(p)),
    lineageCard(p, data.lineage),
    historyCard(p, data.versions));
}

function labelsCard(p, labels) {
  const box = el("span", { id: "labels" });
  const draw = names => box.replaceChildren(...(names.length ? names.map(n => el("span", { class: "chip label", "data-label": n }, n,
    el("button", { title: `remove ${n}`, onclick: async () => { await api(`/api/labels/${enc(n)}`, { method: "DELETE" }); route(); } }, "×")))
    : [el("span", { class: "muted" }, "none")]));
  draw(labels);
  const input = el("input", { name: "label", id: "label-name", placeholder: "production", size: 12 });
  const msg = el("span", {});
  const form = el("form", { class: "inline", style: "display:inline-flex;margin-left:1rem" }, input, el("button", { type: "submit", class: "secondary" }, "Set label"), msg);
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    try { await api(`/api/prompts/${enc(p.id)}/labels`, { method: "POST", body: { name: input.value } }); route(); }
    catch (e) { msg.replaceChildren(errorBox(e)); }
  });
  return el("div", { class: "card" }, el("strong", {}, "Labels: "), box, form);
}

// A named prompt: its name and version, the name's other versions, and its labels. An unprotected label can be
// pointed at this version; a protected one is shown as such and only moves from the CLI (--force) or an admin key.
function nameCard(p, named) {
  const msg = el("span", { id: "name-msg" });
  const move = async label => {
    try {
      await api(`/api/names/${enc(named.name)}/labels/${enc(label)}`, { method: "PUT", body: { version: named.version } });
      route();
    } catch (e) { msg.replaceChildren(errorBox(e)); }
  };
  const versions = named.versions.map(v => v.prompt_id === p.id
    ? el("strong", { class: "version current", "data-version": v.version }, `v${v.version}`)
    : el("a", { class: "version", "data-version": v.version, href: `#/prompt/${enc(v.prompt_id)}`, title: v.title || "" }, `v${v.version}`));
  const labels = named.labels.map(l => el("li", { "data-label": l.name, "data-version": l.version },
    el("span", { class: "chip label" }, l.name), ` → v${l.version}`,
    l.protected ? el("span", { class: "muted protected", title: "moves only with the CLI's --force or an admin key" }, " (protected)") : "",
    (!l.protected || mayAdminister()) && l.prompt_id !== p.id
      ? el("button", { type: "button", class: "secondary move-label", "data-label": l.name, onclick: () => move(l.name) }, `Move ${l.name} to v${named.version}`)
      : ""));
  const input = el("input", { name: "label", id: "label-name", value: "staging", size: 12 });
  const form = el("form", { class: "inline", id: "move-form" }, input,
    el("button", { type: "submit", class: "secondary" }, `Point at v${named.version}`));
  form.addEventListener("submit", ev => { ev.preventDefault(); move(input.value.trim()); });
  return el("div", { class: "card", id: "name-card" },
    el("h2", {}, el("span", { id: "prompt-name" }, named.name), ` · version ${named.version}`,
      named.version === named.latest ? el("span", { class: "muted" }, " (latest)") : ""),
    el("p", { id: "name-versions" }, "Versions: ", versions.flatMap((v, i) => i ? [" ", v] : [v])),
    el("ul", { id: "name-labels" }, labels.length ? labels : el("li", { class: "muted" }, "no labels")),
    form, msg);
}

function fillCard(p, variables) {
  const card = el("div", { class: "card", id: "fill" }, el("h2", {}, "Fill and copy"));
  const out = el("textarea", { id: "filled", readonly: true, placeholder: "The filled prompt appears here." });
  const msg = el("span", { class: "toast", id: "fill-msg" });
  const form = el("form", { id: "fill-form" });
  if (!variables.length) form.append(el("p", { class: "muted" }, "This prompt has no {variables}."));
  for (const v of variables) {
    form.append(el("label", { class: "field", style: "margin-bottom:.5rem" }, `{${v}}`,
      el("textarea", { name: v, "data-var": v, rows: 2, style: "min-height:2.4rem" })));
  }
  form.append(el("button", { type: "submit", id: "fill-button" }, "Fill"), " ",
    el("button", { type: "button", class: "secondary", id: "copy-button", onclick: async () => {
      try { await navigator.clipboard.writeText(out.value); } catch (_) { out.select(); document.execCommand("copy"); }
      msg.textContent = "copied";
    } }, "Copy"), msg);
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const values = {};
    for (const [k, v] of new FormData(form)) if (v !== "") values[k] = v;  // an empty field is a missing value
    msg.textContent = "";
    try {
      const r = await api(`/api/prompts/${enc(p.id)}/render`, { method: "POST", body: { values } });
      out.value = r.text;
    } catch (e) { out.value = ""; msg.replaceChildren(errorBox(e)); }
  });
  card.append(form, el("div", { style: "margin-top:.6rem" }, out));
  return card;
}

function ratingCard(p, rating, feedback) {
  const summary = el("p", { id: "rating-summary" }, rating ? `Average ${rating.average.toFixed(1)} from ${rating.count} rating(s)` : "Not rated yet.");
  const comment = el("input", { id: "rating-comment", placeholder: "comment (optional)", style: "width:100%;margin-top:.4rem" });
  const stars = el("div", { class: "stars", id: "stars" });
  for (let n = 1; n <= 5; n++) {
    stars.append(el("button", { type: "button", "data-star": n, title: `${n} star${n > 1 ? "s" : ""}`, onclick: async () => {
      try {
        const r = await api(`/api/prompts/${enc(p.id)}/rate`, { method: "POST", body: { rating: n, comment: comment.value } });
        stars.querySelectorAll("button").forEach(b => b.classList.toggle("on", Number(b.dataset.star) <= n));
        summary.textContent = `Average ${r.average.toFixed(1)} from ${r.count} rating(s) · you rated ${n}`;
        comment.value = "";
      } catch (e) { summary.replaceChildren(errorBox(e)); }
    } }, "★"));
  }
  const list = el("ul", { class: "muted", style: "font-size:.85rem" },
    (feedback || []).slice(0, 5).map(f => el("li", {}, `${"★".repeat(f.rating)} ${f.comment || ""} (${f.source})`)));
  return el("div", { class: "card" }, el("h2", {}, "Rating"), stars, comment, summary, list);
}

function scoreCard(p) {
  const card = el("div", { class: "card", id: "score" }, el("h2", {}, "Score"), el("p", { class: "muted" }, "scoring…"));
  api(`/api/prompts/${enc(p.id)}/score`).then(s => {
    const sc = s.score;
    const rows = sc.components.map(c => el("tr", {}, el("td", {}, c.name), el("td", {}, c.value.toFixed(2)),
      el("td", {}, c.weight.toFixed(2) + (c.weight_source !== "default" ? ` (${c.weight_source})` : "")), el("td", {}, c.reason)));
    card.replaceChildren(el("h2", {}, `Score ${sc.total.toFixed(3)}`),
      sc.rejected.length ? el("p", { class: "error" }, "Not a usable prompt: " + sc.rejected.join("; ")) : "",
      el("table", {}, el("thead", {}, el("tr", {}, ["component", "value", "weight", "reason"].map(h => el("th", {}, h)))), el("tbody", {}, rows)),
      sc.notes.length ? el("p", { class: "muted" }, sc.notes.join("; ")) : "");
  }).catch(e => card.replaceChildren(el("h2", {}, "Score"), errorBox(e)));
  return card;
}

function lineageCard(p, lineage) {
  // Layers: ancestors (root first) above, this prompt, then descendants by depth. Edges follow parent_id.
  const nodes = new Map();
  const depth = new Map();
  lineage.ancestors.forEach((a, i) => { nodes.set(a.id, a); depth.set(a.id, i - lineage.ancestors.length); });
  nodes.set(p.id, p); depth.set(p.id, 0);
  for (const d of lineage.descendants) { nodes.set(d.id, d); depth.set(d.id, (depth.get(d.parent_id) ?? 0) + 1); }
  const layers = new Map();
  for (const [id, d] of depth) { if (!layers.has(d)) layers.set(d, []); layers.get(d).push(id); }
  const keys = [...layers.keys()].sort((a, b) => a - b);
  const W = 170, H = 44, GX = 24, GY = 38;
  const width = Math.max(...keys.map(k => layers.get(k).length)) * (W + GX) + GX;
  const height = keys.length * (H + GY) + GY / 2;
  const pos = new Map();
  keys.forEach((k, row) => layers.get(k).forEach((id, col) => {
    const n = layers.get(k).length;
    const x = (width - n * (W + GX) + GX) / 2 + col * (W + GX);
    pos.set(id, { x, y: GY / 2 + row * (H + GY) });
  }));
  const svg = svgEl("svg", { class: "lineage", id: "lineage", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "lineage graph" });
  for (const [id, n] of nodes) {
    const from = pos.get(n.parent_id), to = pos.get(id);
    if (from && to) svg.append(svgEl("path", { class: "edge", d: `M${from.x + W / 2},${from.y + H} C${from.x + W / 2},${from.y + H + GY / 2} ${to.x + W / 2},${to.y - GY / 2} ${to.x + W / 2},${to.y}` }));
  }
  for (const [id, n] of nodes) {
    const at = pos.get(id);
    const g = svgEl("g", { class: "node" + (id === p.id ? " current" : ""), "data-id": id, transform: `translate(${at.x},${at.y})` },
      svgEl("rect", { width: W, height: H, rx: 6 }),
      svgEl("text", { x: 8, y: 17 }, `${phaseOf(n)}${n.variant !== null && n.variant !== undefined ? " v" + (n.variant + 1) : ""} · ${id.slice(0, 8)}`),
      svgEl("text", { x: 8, y: 33, class: "muted" }, short(n.title || n.content, 26)),
      svgEl("title", {}, short(n.content, 300)));
    if (id !== p.id) { const a = svgEl("a", { href: `#/prompt/${enc(id)}` }); a.append(g); svg.append(a); } else svg.append(g);
  }
  const count = nodes.size - 1;
  return el("div", { class: "card" }, el("h2", {}, `Lineage (${count} related prompt${count === 1 ? "" : "s"})`),
    el("div", { style: "overflow-x:auto" }, svg));
}

function historyCard(p, versions) {
  const card = el("div", { class: "card", id: "history" }, el("h2", {}, `Versions (${versions.length})`));
  const table = el("table", {}, el("thead", {}, el("tr", {}, ["A", "B", "v", "id", "labels", "created", "text"].map(h => el("th", {}, h)))));
  const body = el("tbody", {});
  versions.forEach((v, i) => body.append(el("tr", { class: v.id === p.id ? "current" : "" },
    el("td", {}, el("input", { type: "radio", name: "a", value: v.id, checked: i === Math.max(0, versions.length - 2) })),
    el("td", {}, el("input", { type: "radio", name: "b", value: v.id, checked: i === versions.length - 1 })),
    el("td", {}, String(v.version)),
    el("td", {}, v.id === p.id ? el("strong", {}, v.id.slice(0, 8)) : el("a", { href: `#/prompt/${enc(v.id)}` }, v.id.slice(0, 8))),
    el("td", {}, chips(v.labels, "label")), el("td", {}, v.created_at.slice(0, 16).replace("T", " ")),
    el("td", {}, short(v.content, 60)))));
  table.append(body);
  const out = el("div", { id: "diff", class: "diff", style: "margin-top:.6rem" });
  const button = el("button", { type: "button", id: "diff-button", onclick: async () => {
    const a = card.querySelector("input[name=a]:checked"), b = card.querySelector("input[name=b]:checked");
    if (!a || !b) return;
    try {
      const d = await api(`/api/diff?a=${enc(a.value)}&b=${enc(b.value)}`);
      out.replaceChildren(...(d.lines.length ? d.lines.map(l => el("div", { class: l.op === "+" ? "add" : l.op === "-" ? "del" : "" }, `${l.op} ${l.text}`)) : [el("div", { class: "muted" }, "identical")]));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  } }, "Diff A → B");
  card.append(table, el("p", {}, button), out);
  return card;
}

// ---------------------------------------------------------------------------------------------------- metrics

function bars(id, entries, opts) {
  const o = Object.assign({ width: 520, bar: 18, fmt: v => String(v), cls: "bar" }, opts || {});
  const labelW = 130, max = Math.max(1e-9, ...entries.map(e => e[1]));
  const svg = svgEl("svg", { id, width: o.width, height: Math.max(30, entries.length * (o.bar + 6) + 6), role: "img" });
  entries.forEach(([name, value], i) => {
    const y = 4 + i * (o.bar + 6), w = Math.max(1, (o.width - labelW - 80) * value / max);
    svg.append(svgEl("text", { x: 0, y: y + o.bar - 5, class: "bar-label" }, short(name, 20)),
      svgEl("rect", { x: labelW, y, width: w, height: o.bar, class: o.cls }, svgEl("title", {}, `${name}: ${o.fmt(value)}`)),
      svgEl("text", { x: labelW + w + 6, y: y + o.bar - 5, class: "bar-label" }, o.fmt(value)));
  });
  if (!entries.length) svg.append(svgEl("text", { x: 0, y: 18, class: "bar-label" }, "no data yet"));
  return svg;
}

async function metricsPage(params) {
  const m = await api("/api/metrics" + (params.get("since") ? `?since=${enc(params.get("since"))}` : ""));
  const prov = Object.entries(m.providers || {});
  const phases = Object.entries(m.phase_latency_ms || {});
  $app.append(el("h1", {}, "Metrics"),
    el("p", { class: "muted" }, `${m.prompts.total} prompts · ${m.totals.calls} provider calls · ${m.totals.input_tokens + m.totals.output_tokens} tokens · $${m.totals.cost_usd.toFixed(4)}`),
    el("div", { class: "grid" },
      el("div", { class: "card" }, el("h2", {}, "Prompts per day"), bars("chart-days", Object.entries(m.prompts.per_day || {}))),
      el("div", { class: "card" }, el("h2", {}, "Tokens by provider"), bars("chart-tokens", prov.map(([n, e]) => [n, (e.input_tokens || 0) + (e.output_tokens || 0)]))),
      el("div", { class: "card" }, el("h2", {}, "Cost by provider (USD)"), bars("chart-cost", prov.map(([n, e]) => [n, e.cost_usd || 0]), { fmt: v => "$" + v.toFixed(4), cls: "bar alt" })),
      el("div", { class: "card" }, el("h2", {}, "Latency by phase (p50 / p95 ms)"),
        bars("chart-latency", phases.flatMap(([n, e]) => [[`${n} p50`, e.p50 || 0], [`${n} p95`, e.p95 || 0]]), { fmt: v => Math.round(v) + " ms" }))));
}

// ---------------------------------------------------------------------------------------------------- generate

async function generatePage() {
  const personas = (await api("/api/personas")).personas;
  const form = el("form", { class: "card", id: "generate-form" },
    el("label", { class: "field" }, "Idea", el("textarea", { name: "idea", id: "idea", rows: 3, placeholder: "build a CLI that summarizes git logs" })),
    el("div", { class: "inline", style: "display:flex;gap:.6rem;margin-top:.5rem;align-items:end" },
      el("label", { class: "field" }, "Variants", el("input", { name: "count", type: "number", min: 1, max: 10, value: 3, size: 3 })),
      el("label", { class: "field" }, "Persona", select("persona", personas, personas[0])),
      el("label", { class: "field" }, "Tags", el("input", { name: "tags", size: 14 })),
      el("button", { type: "submit", id: "generate-button" }, "Generate")));
  const status = el("div", { class: "card", id: "progress" }, el("p", { class: "muted" }, "Phases show their progress here while they run."));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const body = Object.fromEntries(new FormData(form));
    body.count = body.count ? Number(body.count) : null;
    status.replaceChildren(el("p", {}, "starting…"));
    try {
      const { job } = await api("/api/generate", { method: "POST", body });
      poll(job, status);
    } catch (e) { status.replaceChildren(errorBox(e)); }
  });
  $app.append(el("h1", {}, "Generate"), form, status);
}

async function poll(job, box) {
  const s = await api(`/api/generate/${enc(job)}`).catch(e => ({ status: "error", error: e.message, events: [] }));
  const last = new Map();
  for (const e of s.events || []) last.set(e.phase, e);
  const rows = [...last.values()].map(e => el("div", { class: "phase-row", "data-phase": e.phase }, el("span", {}, e.phase),
    el("div", { class: "progress" }, el("div", { style: `width:${Math.round(100 * e.done / Math.max(1, e.total))}%` })), el("span", {}, `${e.done}/${e.total}`)));
  box.replaceChildren(el("p", { id: "job-status" }, `Status: ${s.status}`), ...rows);
  if (s.status === "running") { setTimeout(() => poll(job, box), 300); return; }
  if (s.status === "error") { box.append(errorBox(new Error(s.error))); return; }
  const list = el("ul", { class: "results" }, s.result.prompts.map(p => el("li", {},
    el("a", { href: `#/prompt/${enc(p.id)}`, class: "title" }, `${phaseOf(p)} v${(p.variant || 0) + 1}`), p.id === s.result.best ? el("span", { class: "chip" }, "best") : "",
    el("div", { class: "snippet" }, short(p.content, 200)))));
  box.append(list);
}

// ---------------------------------------------------------------------------------------------------- labels

async function labelsPage() {
  const data = await api("/api/labels");
  const table = el("table", { id: "labels-table" }, el("thead", {}, el("tr", {}, ["label", "version", "since", "text"].map(h => el("th", {}, h)))),
    el("tbody", {}, data.labels.map(l => el("tr", {}, el("td", {}, el("span", { class: "chip label" }, l.name)),
      el("td", {}, el("a", { href: `#/prompt/${enc(l.prompt_id)}` }, l.prompt_id.slice(0, 8))), el("td", {}, l.updated_at.slice(0, 16).replace("T", " ")),
      el("td", {}, short(l.content, 80))))));
  const hist = el("ul", {}, data.history.map(h => el("li", {}, `${h.created_at.slice(0, 16).replace("T", " ")} · ${h.name} · ${h.action} `
    + (h.action === "move" ? `${h.previous_id.slice(0, 8)} → ${h.prompt_id.slice(0, 8)}` : (h.prompt_id || h.previous_id || "").slice(0, 8)) + ` (${h.source})`)));
  $app.append(el("h1", {}, "Labels"), el("div", { class: "card" }, data.labels.length ? table : el("p", { class: "muted" }, "No labels yet.")),
    el("h2", {}, "Recent changes"), el("div", { class: "card" }, hist));
}
