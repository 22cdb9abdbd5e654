"""The details of an idea that a fitting prompt must keep, extracted once by plain rules: numbers with their units,
the user's must / never / only clauses (as instructions, in the user's words), named entities, the stated
audience, the idea's language, the inputs it names, classification labels and extraction fields, what a bot or
agent is for, and the facts of --context files.

Nothing here calls a model; every value is a piece of the idea (or of a context file), at most turned from the
first person to the third ("my" -> "the user's") or from "it must never give" to "Never give".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from prompt_alchemy.engine.spec import _AUDIENCE, INSTRUCTION_VERBS, split_sentences, strip_lead, third_person
from prompt_alchemy.models import ContextItem
from prompt_alchemy.ranking.features import variables

# ------------------------------------------------------------------------------------------------ language

LANGUAGE_NAMES = {"es": "Spanish", "de": "German", "fr": "French", "it": "Italian", "pt": "Portuguese", "nl": "Dutch"}
#: Frequent function words and request verbs per language; an idea is in the language with the most hits (at
#: least two, and more than English's).
_STOP_WORDS = {
    "en": "the a an and of to for in on with my our is are that this it be please write make give me about".split(),
    "es": (
        "el la los las un una unos unas y de del para por con sin en mi mis nuestro que es son al lo "
        "escribe escribir crea haz dame hazme sobre como muy pero cómo qué necesito quiero ayúdame "
        "redacta resume traduce explica clasifica genera prepara planifica"
    ).split(),
    "de": (
        "der die das den dem des ein eine einen einem einer und oder für mit ohne mein meine meinen meinem "
        "unser ist sind nicht zu im auf wegen über schreibe schreib erstelle mach gib bitte ich wir wie "
        "was auch klassifiziere fasse erkläre übersetze formuliere plane entwirf generiere nach"
    ).split(),
    "fr": (
        "le la les un une des et de du pour avec sans en mon ma mes notre nos est sont pas que qui au aux ce "
        "cette par explique-moi "
        "écris écrire crée fais donne-moi moi sur comment je nous très rédige résume traduis classe génère"
    ).split(),
    "it": (
        "il lo la gli le un una uno e di del della per con senza in mio mia miei nostro è sono non che al "
        "scrivi crea fammi dammi su come io noi molto riassumi traduci spiega classifica genera prepara"
    ).split(),
    "pt": (
        "o a os as um uma e de do da dos das para com sem em meu minha nosso é são não que ao vezes você "
        "durante pelo pela num numa "
        "escreva escreve crie faça me sobre como eu nós muito resuma traduza explique classifique gere"
    ).split(),
    "nl": (
        "de het een en van voor met zonder in op mijn onze is zijn niet dat die te schrijf maak geef "
        "over hoe ik wij graag"
    ).split(),
}
_TOKEN = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)?", re.UNICODE)


def detect_language(text: str) -> str | None:
    """The ISO code of the idea's language when it is one of es, de, fr, it, pt, nl; None for English (or too
    little to tell)."""
    words = [w.lower() for w in _TOKEN.findall(text)]
    if not words:
        return None
    scores = {code: sum(1 for w in words if w in set(stop)) for code, stop in _STOP_WORDS.items()}
    accents = len(re.findall(r"[áéíóúñ¿¡ãõçàèìòùâêîôûëïüöäß]", text.lower()))
    english = scores.pop("en")
    if not scores:
        return None
    scores["pt"] += len(re.findall(r"ções?\b|ã", text.lower()))  # endings only Portuguese has
    best = max(scores, key=lambda c: scores[c])
    if scores[best] >= 2 and scores[best] + (1 if accents else 0) > english:
        return best
    return None


#: Request words of the supported languages in English, for choosing a pattern (the embedder reads English).
_GLOSS = {
    "email": "email",
    "e-mail": "email",
    "correo": "email",
    "courriel": "email",
    "mail": "email",
    "carta": "letter",
    "brief": "letter",
    "lettre": "letter",
    "lettera": "letter",
    "vermieter": "landlord",
    "casero": "landlord",
    "propriétaire": "landlord",
    "padrone": "landlord",
    "jefe": "boss",
    "chef": "boss",
    "patron": "boss",
    "capo": "boss",
    "chefe": "boss",
    "baas": "boss",
    "poema": "poem",
    "gedicht": "poem",
    "poème": "poem",
    "poesia": "poem",
    "cuento": "story",
    "historia": "story",
    "geschichte": "story",
    "histoire": "story",
    "storia": "story",
    "história": "story",
    "verhaal": "story",
    "resumen": "summary",
    "resume": "summarize",
    "resumir": "summarize",
    "zusammenfassung": "summary",
    "fasse": "summarize",
    "résumé": "summary",
    "résume": "summarize",
    "riassunto": "summary",
    "riassumi": "summarize",
    "samenvatting": "summary",
    "plan": "plan",
    "piano": "plan",
    "plano": "plan",
    "viaje": "trip",
    "reise": "trip",
    "voyage": "trip",
    "viaggio": "trip",
    "viagem": "trip",
    "reis": "trip",
    "receta": "recipe",
    "rezept": "recipe",
    "recette": "recipe",
    "ricetta": "recipe",
    "receita": "recipe",
    "recept": "recipe",
    "código": "code",
    "codice": "code",
    "función": "function",
    "funktion": "function",
    "fonction": "function",
    "funzione": "function",
    "traduce": "translate",
    "übersetze": "translate",
    "traduis": "translate",
    "traduci": "translate",
    "traduza": "translate",
    "vertaal": "translate",
    "escribe": "write",
    "schreibe": "write",
    "schreib": "write",
    "écris": "write",
    "scrivi": "write",
    "escreva": "write",
    "schrijf": "write",
    "explica": "explain",
    "erkläre": "explain",
    "explique": "explain",
    "spiega": "explain",
    "leg": "explain",
    "ideas": "ideas",
    "ideen": "ideas",
    "idées": "ideas",
    "idee": "ideas",
    "ideias": "ideas",
    "ideeën": "ideas",
    "nombres": "names",
    "namen": "names",
    "noms": "names",
    "nomi": "names",
    "nomes": "names",
    "semana": "week",
    "semanas": "weeks",
    "woche": "week",
    "wochen": "weeks",
    "semaine": "week",
    "semaines": "weeks",
    "settimana": "week",
    "settimane": "weeks",
    "week": "week",
    "weken": "weeks",
    "días": "days",
    "tage": "days",
    "jours": "days",
    "giorni": "days",
    "dias": "days",
    "dagen": "days",
    "entrenamiento": "training",
    "trainingsplan": "training plan",
    "entraînement": "training",
    "allenamento": "training",
    "treino": "training",
    "imagen": "image",
    "bild": "image",
    "immagine": "image",
    "imagem": "image",
    "afbeelding": "image",
    "entrevista": "interview",
    "vorstellungsgespräch": "interview",
    "entretien": "interview",
    "colloquio": "interview",
    "sollicitatiegesprek": "interview",
    "clientes": "customers",
    "kunden": "customers",
    "clients": "customers",
    "klanten": "customers",
    "anschreiben": "cover letter",
    "bewerbung": "job application",
    "candidature": "job application",
    "presentación": "cover letter",
    "motivation": "cover letter",
    "heizung": "heating",
    "kaputten": "broken",
    "kaputt": "broken",
    "calefacción": "heating",
    "chauffage": "heating",
    "riscaldamento": "heating",
    "vacaciones": "vacation",
    "urlaub": "vacation",
    "vacances": "vacation",
    "ferie": "vacation",
    "férias": "vacation",
    "vakantie": "vacation",
    "producto": "product",
    "produkt": "product",
    "produit": "product",
    "prodotto": "product",
    "produto": "product",
    "descripción": "description",
    "beschreibung": "description",
    "descrizione": "description",
    "descrição": "description",
    "beschrijving": "description",
    "aprender": "learn",
    "lernen": "learn",
    "apprendre": "learn",
    "imparare": "learn",
    "leren": "learn",
    "examen": "exam",
    "prüfung": "exam",
    "esame": "exam",
    "prova": "exam",
    "perro": "dog",
    "hund": "dog",
    "chien": "dog",
    "cane": "dog",
    "cachorro": "dog",
    "hond": "dog",
    "gato": "cat",
    "katze": "cat",
    "chat": "cat",
    "gatto": "cat",
    "kat": "cat",
    "preguntas": "questions",
    "fragen": "questions",
    "questions": "questions",
    "domande": "questions",
    "perguntas": "questions",
    "vragen": "questions",
    "publicación": "post",
    "beitrag": "post",
    "publication": "post",
    "post": "post",
    "reunión": "meeting",
    "besprechung": "meeting",
    "réunion": "meeting",
    "riunione": "meeting",
    "reunião": "meeting",
    "vergadering": "meeting",
    "notas": "notes",
    "notizen": "notes",
    "notes": "notes",
    "appunti": "notes",
    "aantekeningen": "notes",
    # assistants, bots, tutors, coaches, agents and characters
    "asistente": "assistant",
    "assistente": "assistant",
    "assistent": "assistant",
    "assistentin": "assistant",
    "kundenservice": "customer service",
    "kundendienst": "customer service",
    "atención": "support",
    "soporte": "support",
    "assistenza": "support",
    "suporte": "support",
    "mitarbeiter": "employees",
    "empleados": "employees",
    "dipendenti": "employees",
    "employés": "employees",
    "funcionários": "employees",
    "werkzeugen": "tools",
    "werkzeuge": "tools",
    "herramientas": "tools",
    "outils": "tools",
    "strumenti": "tools",
    "ferramentas": "tools",
    "rollenspiel": "roleplay",
    "personaje": "character",
    "personnage": "character",
    "personaggio": "character",
    "figur": "character",
    "entrenador": "coach",
    "entraîneur": "coach",
    "allenatore": "coach",
    "treinador": "coach",
    "profesor": "teacher",
    "lehrer": "teacher",
    "nachhilfe": "tutoring",
    "professeur": "teacher",
    "insegnante": "teacher",
    "professor": "teacher",
    "alumnos": "students",
    "schüler": "students",
    "élèves": "students",
    "studenti": "students",
    "alunos": "students",
    "buchungen": "bookings",
    "reservas": "bookings",
    "réservations": "bookings",
    "prenotazioni": "bookings",
    "termine": "appointments",
    "citas": "appointments",
    "kalender": "calendar",
    "calendario": "calendar",
    "calendrier": "calendar",
    "sommeil": "sleep",
    "schlaf": "sleep",
    "sonno": "sleep",
    "sono": "sleep",
    "fumar": "smoking",
    "rauchen": "smoking",
    "fumer": "smoking",
    "fumare": "smoking",
    "smettere": "quit",
    "aufhören": "quit",
    "arrêter": "quit",
    "dejar": "quit",
    "parar": "quit",
    "abnehmen": "lose weight",
    "adelgazar": "lose weight",
    "maigrir": "lose weight",
    "dimagrire": "lose weight",
    "emagrecer": "lose weight",
    "ahorrar": "save money",
    "sparen": "save money",
    "économiser": "save money",
    "risparmiare": "save money",
    "economizar": "save money",
    "klassifiziere": "classify",
    "klassifizieren": "classify",
    "clasifica": "classify",
    "clasificar": "classify",
    "classe": "classify",
    "classer": "classify",
    "classifica": "classify",
    "classifique": "classify",
    "explique-moi": "explain",
    "ordne": "sort",
    "du": "you",
    "bist": "are",
    "eres": "you are",
    "ich": "I",
    "für": "for",
    "sistema": "system",
    "système": "system",
    "pour": "for",
    "mit": "with",
    "avec": "with",
    "lernplan": "study plan",
    "studienplan": "study plan",
    "traduire": "translate",
    "traducir": "translate",
    "traduzir": "translate",
    "tradurre": "translate",
    "übersetzen": "translate",
    "vertalen": "translate",
    "résumer": "summarize",
    "zusammenfassen": "summarize",
    "riassumere": "summarize",
    # common words of requests (articles, verbs, things people ask about)
    "un": "a",
    "una": "a",
    "une": "a",
    "uno": "a",
    "um": "a",
    "uma": "a",
    "ein": "a",
    "eine": "a",
    "einen": "a",
    "einem": "a",
    "einer": "a",
    "een": "a",
    "el": "the",
    "la": "the",
    "los": "the",
    "las": "the",
    "le": "the",
    "il": "the",
    "lo": "the",
    "gli": "the",
    "der": "the",
    "die": "the",
    "das": "the",
    "den": "the",
    "dem": "the",
    "het": "the",
    "o": "the",
    "os": "the",
    "as": "the",
    "para": "for",
    "por": "for",
    "per": "for",
    "voor": "for",
    "sobre": "about",
    "über": "about",
    "sur": "about",
    "su": "about",
    "over": "about",
    "con": "with",
    "com": "with",
    "met": "with",
    "sin": "without",
    "ohne": "without",
    "sans": "without",
    "senza": "without",
    "sem": "without",
    "zonder": "without",
    "mi": "my",
    "mis": "my",
    "mein": "my",
    "meine": "my",
    "meinen": "my",
    "meinem": "my",
    "mon": "my",
    "ma": "my",
    "mes": "my",
    "mio": "my",
    "mia": "my",
    "meu": "my",
    "minha": "my",
    "mijn": "my",
    "nuestro": "our",
    "nuestra": "our",
    "unser": "our",
    "unsere": "our",
    "unseren": "our",
    "notre": "our",
    "nos": "our",
    "nostro": "our",
    "nostra": "our",
    "nosso": "our",
    "nossa": "our",
    "onze": "our",
    "menos": "under",
    "moins": "under",
    "weniger": "under",
    "meno": "under",
    "minder": "under",
    "palabras": "words",
    "wörter": "words",
    "wörtern": "words",
    "mots": "words",
    "parole": "words",
    "palavras": "words",
    "woorden": "words",
    "redacta": "write",
    "rédige": "write",
    "rédiger": "write",
    "verfasse": "write",
    "redigi": "write",
    "redija": "write",
    "escribir": "write",
    "écrire": "write",
    "scrivere": "write",
    "schreiben": "write",
    "escrever": "write",
    "crea": "create",
    "créé": "create",
    "crée": "create",
    "erstelle": "create",
    "crie": "create",
    "maak": "create",
    "genera": "generate",
    "génère": "generate",
    "generiere": "generate",
    "gere": "generate",
    "haz": "make",
    "fais": "make",
    "mach": "make",
    "fai": "make",
    "faça": "make",
    "dame": "give me",
    "donne-moi": "give me",
    "gib": "give",
    "dammi": "give me",
    "dê-me": "give me",
    "ayúdame": "help me",
    "aide-moi": "help me",
    "hilf": "help",
    "aiutami": "help me",
    "ajude-me": "help me",
    "helpen": "help",
    "necesito": "I need",
    "brauche": "need",
    "besoin": "need",
    "ho bisogno": "I need",
    "preciso": "I need",
    "pedir": "ask for",
    "demander": "ask for",
    "bitten": "ask for",
    "chiedere": "ask for",
    "pedindo": "asking for",
    "mensaje": "message",
    "nachricht": "message",
    "message": "message",
    "messaggio": "message",
    "mensagem": "message",
    "bericht": "report",
    "día": "day",
    "dia": "day",
    "tag": "day",
    "jour": "day",
    "giorno": "day",
    "dag": "day",
    "libre": "off",
    "frei": "off",
    "libero": "off",
    "livre": "off",
    "congé": "day off",
    "viernes": "Friday",
    "freitag": "Friday",
    "vendredi": "Friday",
    "venerdì": "Friday",
    "sexta-feira": "Friday",
    "lunes": "Monday",
    "montag": "Monday",
    "lundi": "Monday",
    "lunedì": "Monday",
    "bougie": "candle",
    "vela": "candle",
    "kerze": "candle",
    "candela": "candle",
    "kaars": "candle",
    "parfumée": "scented",
    "perfumada": "scented",
    "duftkerze": "scented candle",
    "profumata": "scented",
    "tienda": "store",
    "laden": "store",
    "geschäft": "store",
    "boutique": "store",
    "negozio": "store",
    "loja": "store",
    "winkel": "store",
    "empresa": "company",
    "unternehmen": "company",
    "firma": "company",
    "entreprise": "company",
    "société": "company",
    "azienda": "company",
    "informe": "report",
    "rapport": "report",
    "rapporto": "report",
    "relatório": "report",
    "verslag": "report",
    "comparar": "compare",
    "compara": "compare",
    "vergleiche": "compare",
    "compare": "compare",
    "confronta": "compare",
    "vergelijk": "compare",
    "lista": "list",
    "liste": "list",
    "elenco": "list",
    "lijst": "list",
    "consejos": "tips",
    "tipps": "tips",
    "conseils": "tips",
    "consigli": "tips",
    "dicas": "tips",
    "tips": "tips",
    "poesía": "poem",
    "canción": "song",
    "lied": "song",
    "chanson": "song",
    "canzone": "song",
    "canção": "song",
    "artículo": "article",
    "artikel": "article",
    "article": "article",
    "articolo": "article",
    "artigo": "article",
    "blog": "blog",
    "entrada": "post",
    "revisa": "review",
    "überprüfe": "review",
    "relis": "review",
    "rivedi": "review",
    "revise": "review",
    "corrige": "fix",
    "korrigiere": "correct",
    "correggi": "correct",
    "corrija": "correct",
    "error": "error",
    "fehler": "error",
    "erreur": "error",
    "errore": "error",
    "erro": "error",
    "consulta": "query",
    "abfrage": "query",
    "requête": "query",
    "query": "query",
    "datos": "data",
    "daten": "data",
    "données": "data",
    "dati": "data",
    "dados": "data",
    "tabla": "table",
    "tabelle": "table",
    "tableau": "table",
    "tabella": "table",
    "tabela": "table",
    "pruebas": "tests",
    "tests": "tests",
    "testes": "tests",
    "menú": "menu",
    "comidas": "meals",
    "mahlzeiten": "meals",
    "repas": "meals",
    "pasti": "meals",
    "refeições": "meals",
    "cena": "dinner",
    "abendessen": "dinner",
    "dîner": "dinner",
    "jantar": "dinner",
    "semanal": "weekly",
    "wöchentlich": "weekly",
    "hebdomadaire": "weekly",
    "settimanale": "weekly",
    "niños": "kids",
    "kinder": "kids",
    "enfants": "kids",
    "bambini": "kids",
    "crianças": "kids",
    "kinderen": "kids",
    "familia": "family",
    "familie": "family",
    "famille": "family",
    "famiglia": "family",
    "família": "family",
    "fin de semana": "weekend",
    "wochenende": "weekend",
    "week-end": "weekend",
    "fine settimana": "weekend",
    "cliente": "customer",
    "kunde": "customer",
    "client": "customer",
    "klant": "customer",
    "queja": "complaint",
    "beschwerde": "complaint",
    "plainte": "complaint",
    "reclamo": "complaint",
    "reclamação": "complaint",
    "klacht": "complaint",
    "respuesta": "reply",
    "antwort": "reply",
    "réponse": "reply",
    "risposta": "reply",
    "resposta": "reply",
    "antwoord": "reply",
    "disculpa": "apology",
    "entschuldigung": "apology",
    "excuses": "apology",
    "scuse": "apology",
    "desculpas": "apology",
    "ofertas": "offers",
    "angebot": "offer",
    "offre": "offer",
    "offerta": "offer",
    "oferta": "offer",
    "trabajo": "job",
    "stelle": "job",
    "emploi": "job",
    "lavoro": "job",
    "emprego": "job",
    "baan": "job",
    "puesto": "position",
    "poste": "position",
    "carta de presentación": "cover letter",
    "lettre de motivation": "cover letter",
    "nombre": "name",
    "name": "name",
    "nom": "name",
    "nome": "name",
    "naam": "name",
    "marca": "brand",
    "marke": "brand",
    "marque": "brand",
    "merk": "brand",
    "eslogan": "slogan",
    "slogan": "slogan",
    "hijo": "son",
    "hija": "daughter",
    "sohn": "son",
    "tochter": "daughter",
    "fils": "son",
    "fille": "daughter",
    "cumpleaños": "birthday",
    "geburtstag": "birthday",
    "anniversaire": "birthday",
    "compleanno": "birthday",
    "aniversário": "birthday",
    "fiesta": "party",
    "feier": "party",
    "fête": "party",
    "festa": "party",
    "discurso": "speech",
    "rede": "speech",
    "discours": "speech",
    "discorso": "speech",
    "boda": "wedding",
    "hochzeit": "wedding",
    "mariage": "wedding",
    "matrimonio": "wedding",
    "casamento": "wedding",
    "präsentation": "presentation",
    "présentation": "presentation",
    "presentazione": "presentation",
    "apresentação": "presentation",
    "diapositivas": "slides",
    "folien": "slides",
    "diapositives": "slides",
    "estudiar": "study",
    "studieren": "study",
    "étudier": "study",
    "studiare": "study",
    "estudar": "study",
    "inglés": "English",
    "englisch": "English",
    "anglais": "English",
    "inglese": "English",
    "inglês": "English",
    "español": "Spanish",
    "spanisch": "Spanish",
    "espagnol": "Spanish",
    "spagnolo": "Spanish",
    "espanhol": "Spanish",
    "alemán": "German",
    "deutsch": "German",
    "allemand": "German",
    "tedesco": "German",
    "alemão": "German",
    "francés": "French",
    "französisch": "French",
    "français": "French",
    "francese": "French",
    "francês": "French",
    "correr": "running",
    "laufen": "running",
    "courir": "running",
    "correre": "running",
    "maratón": "marathon",
    "maratona": "marathon",
    "gimnasio": "gym",
    "fitnessstudio": "gym",
    "salle": "gym",
    "palestra": "gym",
    "academia": "gym",
    "dieta": "diet",
    "diät": "diet",
    "régime": "diet",
    "clase": "class",
    "unterricht": "lesson",
    "cours": "lesson",
    "lezione": "lesson",
    "aula": "lesson",
    "explicar": "explain",
    "erklären": "explain",
    "expliquer": "explain",
    "spiegare": "explain",
    "cómo": "how",
    "wie": "how",
    "comment": "how",
    "come": "how",
    "como": "how",
    "hoe": "how",
    "qué": "what",
    "was": "what",
    "quoi": "what",
    "cosa": "what",
    "wat": "what",
    "por qué": "why",
    "warum": "why",
    "pourquoi": "why",
    "perché": "why",
    "porque": "why",
    "waarom": "why",
    "funciona": "works",
    "funktioniert": "works",
    "fonctionne": "works",
    "funziona": "works",
    "niño": "child",
    "kind": "child",
    "enfant": "child",
    "bambino": "child",
    "criança": "child",
    "años": "years old",
    "jahre": "years old",
    "ans": "years old",
    "anni": "years old",
    "anos": "years old",
    "jaar": "years old",
    "vecino": "neighbour",
    "nachbar": "neighbour",
    "voisin": "neighbour",
    "vicino": "neighbour",
    "vizinho": "neighbour",
    "ruido": "noise",
    "lärm": "noise",
    "bruit": "noise",
    "rumore": "noise",
    "barulho": "noise",
    "alquiler": "rent",
    "miete": "rent",
    "loyer": "rent",
    "affitto": "rent",
    "aluguel": "rent",
    "reparación": "repair",
    "reparatur": "repair",
    "réparation": "repair",
    "riparazione": "repair",
    "reparo": "repair",
    "factura": "invoice",
    "rechnung": "invoice",
    "facture": "invoice",
    "fattura": "invoice",
    "fatura": "invoice",
    "reembolso": "refund",
    "rückerstattung": "refund",
    "remboursement": "refund",
    "rimborso": "refund",
    "pedido": "order",
    "bestellung": "order",
    "commande": "order",
    "ordine": "order",
    "bestelling": "order",
    "envío": "shipping",
    "versand": "shipping",
    "livraison": "delivery",
    "spedizione": "shipping",
    "entrega": "delivery",
    "lieferung": "delivery",
    "paciente": "patient",
    "patient": "patient",
    "paziente": "patient",
    "médico": "doctor",
    "arzt": "doctor",
    "médecin": "doctor",
    "medico": "doctor",
    "abogado": "lawyer",
    "anwalt": "lawyer",
    "avocat": "lawyer",
    "avvocato": "lawyer",
    "advogado": "lawyer",
    "contrato": "contract",
    "vertrag": "contract",
    "contrat": "contract",
    "contratto": "contract",
    "ventas": "sales",
    "vertrieb": "sales",
    "verkauf": "sales",
    "ventes": "sales",
    "vendite": "sales",
    "vendas": "sales",
    "marketing": "marketing",
    "redes sociales": "social media",
    "instagram": "Instagram",
    "linkedin": "LinkedIn",
    "hotel": "hotel",
    "restaurante": "restaurant",
    "restaurant": "restaurant",
    "ristorante": "restaurant",
    "panadería": "bakery",
    "bäckerei": "bakery",
    "boulangerie": "bakery",
    "panetteria": "bakery",
    "padaria": "bakery",
    "bakkerij": "bakery",
    "café": "cafe",
    "cafetería": "cafe",
    "chiste": "joke",
    "witz": "joke",
    "blague": "joke",
    "barzelletta": "joke",
    "piada": "joke",
    "adivinanza": "riddle",
    "rätsel": "riddle",
    "devinette": "riddle",
    "indovinello": "riddle",
    "enseña": "teach",
    "lehre": "teach",
    "enseigne": "teach",
    "insegna": "teach",
    "ensine": "teach",
    "practicar": "practise",
    "üben": "practise",
    "pratiquer": "practise",
    "praticare": "practise",
    "praticar": "practise",
    "conversación": "conversation",
    "gespräch": "conversation",
    "conversazione": "conversation",
    "conversa": "conversation",
}


_REQUEST_VERBS = frozenset(
    "write translate summarize explain classify create generate make compare review correct sort give".split()
)


def foreign_request_verb(text: str) -> str | None:
    """ "foreign" when a short idea that language detection cannot place starts with a request verb of another
    language ("Klassifiziere Kundenanfragen nach Abteilung: ..."), so that it is compared through its gloss."""
    words = _TOKEN.findall(text)
    if not words:
        return None
    first = words[0].lower()
    meaning = _GLOSS.get(first, first)
    return "foreign" if meaning != first and meaning.split()[0] in _REQUEST_VERBS else None


def gloss(text: str) -> str:
    """The idea with the request words this module knows put in English, word by word (names and unknown words
    kept), for choosing a pattern."""
    return _TOKEN.sub(lambda m: _GLOSS.get(m.group(0).lower(), m.group(0)), text)


# ------------------------------------------------------------------------------------------------ numbers

_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty " "fifty hundred"
).split()
_QUALIFIER = (
    r"(?:(?:no more than|not more than|no less than|at most|at least|up to|under|over|fewer than|"
    r"less than|more than|maximum of|max|exactly|about|around|within|only)\s+)?"
)
_UNIT_WORD = r"[a-z][a-z-]*"
_NUMBER = re.compile(
    r"(?<![\w.:/-])"
    + _QUALIFIER
    + r"(?:(?P<money>[$€£]\s?\d[\d,]*(?:\.\d+)?(?:\s?[kKmM]\b)?)"
    + r"|(?P<ratio>\d{1,2}:\d{1,2}\b)"
    + r"|(?P<num>(?:\d[\d,]*(?:\.\d+)?|"
    + "|".join(_NUMBER_WORDS)
    + r")(?:\s?%|\s?[kK]\b)?)"
    + r"(?P<unit>-(?:"
    + _UNIT_WORD
    + r")|\s+(?:"
    + _UNIT_WORD
    + r"\s+)?(?:"
    + _UNIT_WORD
    + r"))?)",
    re.I,
)
#: Words that cannot be a number's unit (the number is a bare figure: "in 2024", "top 5 of the").
_NOT_UNITS = frozenset(
    """a an the and or of to in on at by for with from is are was were be it this that these those
as than then but so if when who which what where how i we you they he she my our your their me us them each
per apiece total long""".split()
)


def _unit_ok(words: list[str]) -> bool:
    return bool(words) and all(w.lower() not in _NOT_UNITS for w in words)


def numbers_with_units(text: str) -> list[str]:
    """Each number in the idea with its unit or qualifier, in the user's words ("10 names", "under 300 words",
    "6-week", "$500", "16:9"). A spelled number counts only with a plural unit ("two kids")."""
    out: list[str] = []
    for match in _NUMBER.finditer(text):
        phrase = match.group(0).strip()
        num = match.group("num")
        unit = (match.group("unit") or "").strip()
        if num:
            unit_words = unit.lstrip("-").split()
            if unit and not unit.startswith("-") and not _unit_ok(unit_words):
                # "5 of the", "2024 and": keep the figure alone, or the first word when it is a unit
                first = unit_words[0] if unit_words else ""
                phrase = phrase[: match.start("unit") - match.start()].strip()
                if first and first.lower() not in _NOT_UNITS:
                    phrase = f"{phrase} {first}"
            elif unit and not unit.startswith("-") and len(unit_words) == 2 and unit_words[1].lower() in _NOT_UNITS:
                phrase = phrase.rsplit(" ", 1)[0]
            if num.lower() in _NUMBER_WORDS and (
                not unit or unit.startswith("-") is False and not unit_words[-1].lower().endswith("s")
            ):
                continue
            if not unit and re.fullmatch(r"(?:19|20)\d\d", num):  # a year is an entity, not a limit
                continue
        if phrase and phrase.lower() not in (o.lower() for o in out):
            out.append(phrase)
    return out


_TIME_UNIT = re.compile(r"\b(?:days?|nights?|weeks?|months?)$", re.I)


def duration_of(text: str, numbers: list[str]) -> str:
    """How long a plan spans, in the idea's words: "4 days", "6 weeks", else "the weekend" / "a week" when the idea
    says so, else "". Not the count of other things ("two kids")."""
    for phrase in numbers:
        count = _count([phrase])
        if count and _TIME_UNIT.search(count):
            return count
    match = re.search(r"\b((?:a |the |one )?(?:long )?weekend|a week|a fortnight|a month)\b", text, re.I)
    if match:
        value = match.group(1).lower()
        return value if value.startswith(("a ", "the ", "one ")) else "the " + value
    return ""


_LENGTH_UNIT = re.compile(
    r"\b(?:words?|sentences?|paragraphs?|lines?|bullets?|bullet points?|pages?|characters?|stanzas?|"
    r"tweets?|posts?|minutes? read)\b",
    re.I,
)


def length_of(numbers: list[str]) -> str:
    """How long a text should be, in the idea's words ("under 120 words", "5 bullet points"), or ""."""
    return next((phrase for phrase in numbers if _LENGTH_UNIT.search(phrase)), "")


def _count(numbers: list[str]) -> str:
    """The number the idea asks for with its unit: the first number that has a unit word."""
    for phrase in numbers:
        bare = re.sub(r"^" + _QUALIFIER, "", phrase, flags=re.I)
        if re.search(r"\d|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b", bare, re.I) and re.search(
            r"[a-z]{2,}$", bare, re.I
        ):
            hyphen = re.fullmatch(r"(\d+|[a-z]+)-([a-z]+)", bare, re.I)  # "6-week" -> "6 weeks"
            if hyphen:
                number, unit = hyphen.groups()
                return f"{number} {unit}" + ("" if number in ("1", "one") or unit.endswith("s") else "s")
            return bare
    return ""


# ------------------------------------------------------------------------------------------------ clauses

_SUBJECT = r"(?:(?:it|they|he|she|you|this|that|i|we|the [\w-]+(?: [\w-]+)?|each [\w-]+|every [\w-]+|its [\w-]+)\s+)?"
_MODALS = (
    (
        "must not|mustn't|should not|shouldn't|does not|doesn't|do not|don't|cannot|can't|may not|will not|won't",
        "Do not",
    ),
    ("must never|should never|can never|will never|never", "Never"),
    ("must always|should always|will always|always", "Always"),
    ("must only|should only|can only|may only|will only|only", "Only"),
    ("must|should|has to|have to|needs to|need to|is required to", ""),
)
_MODAL = re.compile(
    r"^(?:and|but|so|also|plus|then)?\s*" + _SUBJECT + "(" + "|".join(m for m, _ in _MODALS) + r")\s+(.+)$", re.I
)
_LIMIT = re.compile(
    r"\b(?:no more than|not more than|at most|at least|maximum|max\.?|fewer than|less than|under|"
    r"within|exactly|keep it|make sure|avoid|no)\b",
    re.I,
)
#: Verbs in the third person that start an action of their own after a rule: "never books rooms itself and sends
#: guests to the front desk" is two instructions. (Words that are also common plural nouns are left out.)
_ACTION_VERBS = (
    r"(?:sends|passes|asks|refers|tells|escalates|forwards|directs|suggests|replies|explains|keeps|gives|routes|"
    r"confirms|reminds|flags|notifies|alerts|pings|transfers|collects|redirects|invites|apologi[sz]es|send|pass|"
    r"forward|escalate|refer|direct|route|transfer|hand)"
)
_CLAUSE_SPLIT = re.compile(
    r"\s*;\s*|\s*:\s+(?=(?:it |they |you )?(?:must|never|always|only|don't|do not|no|keep|avoid)\b)|"
    r",\s+(?=(?:and |but )?(?:it|they|he|she|you|the [\w-]+|each [\w-]+|i|we)\s+"
    r"(?:must|should|never|always|only|can't|cannot|don't|do not|doesn't|has to|have to|needs to)\b)|"
    r",?\s+(?:and|but)\s+(?!never\s+\w+ed\b)"  # "users who signed up but never logged in" is no rule
    r"(?=(?:it |they |you |the \w+ )?(?:must|should|never|always|can't|cannot|don't|do not|"
    r"doesn't|has to|have to|needs to|keep|make sure|avoid)\b)|"
    r",\s+(?=(?:never|always|only|no more than|at most|at least|keep|make sure|avoid|don't|do not|no|under)\b)|"
    r"\s+(?:that|which|who)\s+(?=(?:must|should|never|always|only|can't|cannot|doesn't|does not)\b)|"
    r"(?:,\s+(?:and\s+)?|\s+and\s+)(?=" + _ACTION_VERBS + r"\b)",
    re.I,
)
_IRREGULAR_BASE = {"has": "have", "does": "do", "goes": "go", "is": "be"}


def base_verb(word: str) -> str:
    """ "gives" -> "give", "passes" -> "pass", "replies" -> "reply" (for a verb after "never", "only" ...)."""
    low = word.lower()
    if low in _IRREGULAR_BASE:
        return _IRREGULAR_BASE[low]
    if len(low) > 4 and low.endswith("ies"):
        return word[:-3] + "y"
    if re.search(r"(?:ss|sh|ch|x|zz|o)es$", low):
        return word[:-2]
    if low.endswith("s") and not low.endswith(("ss", "us", "is")) and len(low) > 3:
        return word[:-1]
    return word


def as_instruction(clause: str) -> str:
    """A must / never / only clause as an instruction, in the user's words: "it must never give veterinary advice"
    -> "Never give veterinary advice."; first-person limits go to the third person."""
    clause = clause.strip().strip(" ,.;:")
    match = _MODAL.match(clause)
    subject = ""
    if match:
        before = clause[: match.start(1)].strip().lower()
        subject = re.sub(r"^(?:and|but|so|also|plus|then)\s*", "", before)
    if match and subject not in ("i", "we"):
        modal, rest = match.group(1).lower(), match.group(2)
        prefix = next(p for m, p in _MODALS if modal in m.split("|"))
        words = rest.split(" ", 1)
        verb = base_verb(words[0]) if prefix != "" or subject else words[0]
        if prefix == "" and not subject and words[0].lower() in ("be", "have"):
            verb = words[0]
        rest = verb + (" " + words[1] if len(words) > 1 else "")
        text = f"{prefix} {rest}" if prefix else rest
    else:
        text = clause
    text = re.sub(r"\bitself\b", "yourself", third_person(text))  # the rule is said to the assistant itself
    if re.match(r"only\s+(?:from|about|in|with|using|on|based on)\b", text, re.I):  # "only from the agreement"
        text = "Answer " + text[0].lower() + text[1:]
    text = text[0].upper() + text[1:] if text else text
    return text if text.endswith((".", "!", "?")) else text + "."


def _is_rule(clause: str) -> bool:
    return bool(_MODAL.match(clause.strip()) or _LIMIT.search(clause))


# ------------------------------------------------------------------------------------------------ entities

_ENTITY = re.compile(
    r"(?<![\w'])((?:[A-Z][\w&'.-]*|[A-Z]{2,}\d*)(?:\s+(?:of|de|la|del|von|van|the)?\s*" r"[A-Z][\w&'.-]*)*)"
)
_NOT_ENTITIES = frozenset(
    """I I'm I've I'd A An The My Our We You Please Can Could Would Write Make Create Give
Help It This That These Those Then If When And But Or For To In On At With From By As Also Use Keep Never Always
Only Don't Do Must Should No Yes Hi Hello Hey AI Dear Subject OK""".split()
)


def named_entities(text: str) -> list[str]:
    """Capitalised names in the idea (Amazon, Kyoto, "New York", "Google Calendar"), excluding a sentence's
    first word when it is an ordinary word."""
    out: list[str] = []
    for sentence in split_sentences(text) or [text]:
        for match in _ENTITY.finditer(sentence):
            name = match.group(1).rstrip(".'")
            name = re.sub(r"'s$", "", name)
            first = name.split()[0]
            if first in _NOT_ENTITIES:
                name = " ".join(name.split()[1:])
                if not name or not name[0].isupper():
                    continue
            if match.start() == 0 and " " not in name and name.lower() in _COMMON_FIRST_WORDS:
                continue
            if name and name not in out and name not in _NOT_ENTITIES:
                out.append(name)
    return out


_COMMON_FIRST_WORDS = frozenset(
    """write make create give help draft generate build design plan explain summarize
summarise translate list suggest find tell show act pretend be a an the can could would please i my our we you
what how why which who when where is are do does should role play roleplay system prompt turn convert review
classify extract compare analyze analyse prepare propose recommend teach coach tutor brainstorm name""".split()
)

# ------------------------------------------------------------------------------------------------ audience

_AUDIENCE_NOUNS = (
    r"(?:beginners|students|kids|children|teens|teenagers|developers|engineers|programmers|managers|"
    r"executives|customers|clients|users|readers|parents|teachers|investors|recruiters|patients|"
    r"nurses|doctors|newcomers|employees|colleagues|stakeholders|marketers|designers|researchers|"
    r"novices|experts|seniors|adults|owners|founders|subscribers|followers|learners|analysts|"
    r"buyers|shoppers|tourists|travellers|travelers|retirees|homeowners|tenants|voters|donors|"
    r"candidates|applicants|staff|players|guests|members|volunteers|pupils|freshmen|graduates|"
    r"athletes|runners|musicians|artists|writers|lawyers|accountants|the CTO|the CEO|the board)"
)
_AUDIENCE_VERBS = re.compile(
    r"\b(?:helps?|teach(?:es)?|coaches|guides|supports|serves|assists|answers|trains)\s+"
    r"((?:(?!(?:that|which|who|with|and|to|for)\b)[\w-]+\s+){0,2}?" + _AUDIENCE_NOUNS + r")\b",
    re.I,
)
_AUDIENCE_POSSESSIVE = re.compile(
    r"\b((?:[\w-]+\s+)?" + _AUDIENCE_NOUNS + r")'\s+(?:questions|problems|requests)", re.I
)
_AUDIENCE_FOR = re.compile(
    r"\bfor\s+((?:the|a|an|my|our|their|busy|new|young|older|\w+-year-old|\w+)\s+)?"
    r"(the CTO|the CEO|the board|my boss|my manager|my team|the team)\b",
    re.I,
)


_AUDIENCE_AGE = re.compile(
    r"\b(?:to|for)\s+((?:a|an|my|our)\s+(?:\d{1,2}|\w+)-year-old(?:\s+(?:kid|child|boy|girl|son|daughter|student))?)\b",
    re.I,
)


def stated_audience(text: str) -> str:
    """Who the result is for, when the idea says so ("for beginners", "helps kids", "employees' questions")."""
    for regex in (_AUDIENCE, _AUDIENCE_AGE, _AUDIENCE_VERBS, _AUDIENCE_POSSESSIVE):
        match = regex.search(text)
        if match:
            return third_person(match.group(1).strip())
    match = _AUDIENCE_FOR.search(text)
    if match:
        return third_person(match.group(2).strip())
    return ""


# ------------------------------------------------------------------------------------------------ inputs, labels

_MATERIALS = (
    ("support tickets", "tickets"),
    ("tickets", "tickets"),
    ("reviews", "reviews"),
    ("resumes", "resumes"),
    ("resume", "resume"),
    ("résumé", "resume"),
    ("cv", "resume"),
    ("transcripts", "transcript"),
    ("transcript", "transcript"),
    ("meeting notes", "notes"),
    ("standup notes", "notes"),
    ("notes", "notes"),
    ("emails", "emails"),
    ("email", "email"),
    ("articles", "article"),
    ("article", "article"),
    ("essays", "essay"),
    ("essay", "essay"),
    ("contracts", "contract"),
    ("contract", "contract"),
    ("invoices", "invoices"),
    ("invoice", "invoice"),
    ("receipts", "receipts"),
    ("survey responses", "responses"),
    ("responses", "responses"),
    ("comments", "comments"),
    ("tweets", "tweets"),
    ("messages", "messages"),
    ("feedback", "feedback"),
    ("job description", "job_description"),
    ("job posting", "job_posting"),
    ("logs", "logs"),
    ("log", "log"),
    ("stack trace", "stack_trace"),
    ("error message", "error"),
    ("diff", "diff"),
    ("pull request", "diff"),
    ("code", "code"),
    ("function", "code"),
    ("script", "code"),
    ("query", "query"),
    ("csv", "data"),
    ("spreadsheet", "data"),
    ("dataset", "data"),
    ("data", "data"),
    ("report", "report"),
    ("paper", "paper"),
    ("document", "document"),
    ("chapter", "chapter"),
    ("lecture", "lecture"),
    ("recipe", "recipe"),
    ("product descriptions", "descriptions"),
    ("text", "text"),
)


def named_inputs(text: str) -> list[str]:
    """The material the idea names, as a variable name ("classify support tickets" -> tickets), first first."""
    lowered = text.lower()
    found: list[tuple[int, str]] = []
    for phrase, name in _MATERIALS:
        match = re.search(rf"\b{re.escape(phrase)}\b(?!-)", lowered)  # "a note-taking app" names no notes
        if (
            match
            and name not in (n for _, n in found)
            and not any(s <= match.start() < s + 30 for s, _ in found if phrase in lowered[s : s + 30])
        ):
            found.append((match.start(), name))
    return [name for _, name in sorted(found)]


_LIST = r"([\w' -]+?(?:,\s*[\w' -]+?)*,?\s+(?:or|and)\s+[\w'-]+(?:\s[\w'-]+)?)"
_LABELS = re.compile(r"\b(?:as|into|labels?:?|categories:?|either|by \w+ \()\s*\(?" + _LIST + r"(?=\)|[.;,]|$)", re.I)
_FIELDS = re.compile(
    r"\b(?:extract|pull out|pull|get|capture|fields:?)\s+(?:the\s+)?"
    + _LIST
    + r"(?=\s+(?:from|out of|of|in)\b|[.;]|$)",
    re.I,
)


def _items(listing: str) -> list[str]:
    parts = re.split(r",\s*|\s+(?:or|and)\s+", listing)
    return [p.strip().strip("'\"") for p in parts if p.strip() and len(p.split()) <= 3]


def labels_in(text: str) -> list[str]:
    match = _LABELS.search(text)
    return _items(match.group(1)) if match else []


def fields_in(text: str) -> list[str]:
    match = _FIELDS.search(text)
    return _items(match.group(1)) if match else []


# ------------------------------------------------------------------------------------------------ subject, purpose

_PROMPT_LEAD = re.compile(
    r"^(?:(?:write|create|make|give me|generate|draft|design|build|set up|i need|i want)\s+)?(?:me\s+)?"
    r"(?:(?:an?|the|my|our)\s+)?(?:[\w./-]+\s+){0,2}?"
    r"(?:system prompt|system message|prompt|instructions|persona prompt|character prompt|image prompt|"
    r"/imagine prompt)\s*(?:for|to|of|that|which|:|,)?\s*",
    re.I,
)
_IMAGE_WORDS = re.compile(
    r"\b(?:midjourney(?: v?\d)?|mj|stable diffusion(?: xl| \d(?:\.\d)?)?|sdxl|sd ?1\.5|automatic1111|comfyui|"
    r"dall-?e(?: ?3)?|chatgpt|firefly|imagen|flux|v\d)\b\s*(?:prompt|image)?\s*(?:for|of|showing|:)?\s*",
    re.I,
)
_SUBJECT_END = re.compile(
    r"\s*(?:;|:\s|,\s+(?:it|they|the bot|and it)\b|\s+(?:that|which|who|so that|so|to help|" r"in order to)\s)", re.I
)
_BOT_NOUN = re.compile(
    r"\b(bot|chatbot|assistant|agent|tutor|coach|gpt|helper|character|npc|widget|" r"system prompt|prompt)s?\b", re.I
)
_PURPOSE_BOT = re.compile(r"\b(?:bot|chatbot|assistant|agent|tutor|coach|gpt|helper|ai|model|widget|npc)\b", re.I)
_PURPOSE_LINK = re.compile(r"\s(?:that|which|who|to)\s+(?:can\s+|will\s+|should\s+)?(?=([^;.]+)$)", re.I)
_QUESTIONS_FOR = re.compile(
    r"\b(?:bot|chatbot|assistant|agent|helper|gpt|widget)s?\s+(?:for|to answer)\s+((?:[\w-]+\s+){0,4}?[\w-]+'s?\s+"
    r"questions\s+(?:about|on)\s+[^;.,]+)",
    re.I,
)
_FOR_DOING = re.compile(
    r"\b(?:bot|chatbot|assistant|coach|tutor|partner|gpt|helper|companion)s?\b[^;.]*?\bfor\s+"
    r"((?:practi[cs]ing|learning|improving|preparing for|rehearsing|building|training for|reviewing)\b[^;.,]+)",
    re.I,
)
_COMMON_VERBS = frozenset(
    """help answer read send draft reply label ask book report check run open restart page find
compare suggest explain quiz guide correct track remind escalate flag summarize summarise translate schedule collect
search fetch give keep pass hand tell notify create update delete post monitor triage handle teach coach review
write plan research list fix test watch greet recommend sort file tag route look respond practise practice take
walk build give teach ping alert assign merge archive match reconcile approve reject sync import export
upload download scan classify draft cite quote check""".split()
)


def subject_of(request: str) -> str:
    """What the idea is about, in its words: its request without the lead ("write a system prompt for", "can
    you", "midjourney prompt for"), up to the first clause ("; it must", "that ...")."""
    body = strip_lead(request.strip())
    body = _PROMPT_LEAD.sub("", body, count=1)
    body = _IMAGE_WORDS.sub("", body, count=1) if _IMAGE_WORDS.match(body) else body
    body = re.sub(r"^(?:(?:pretend|act|role-?play|play|be)\s+(?:to be\s+|as\s+)?)", "", body, flags=re.I)
    words = body.split(maxsplit=1)
    if len(words) == 2 and words[0].lower() in INSTRUCTION_VERBS:
        body = words[1]
    end = _SUBJECT_END.search(body)
    subject = body[: end.start()] if end else body
    return subject.strip().lstrip(" ,;:.-").rstrip(" .!?,")


def image_subject(request: str) -> str:
    """For an image prompt: the whole description after the lead and the model's name ("a tiny astronaut
    watering plants on the moon, pastel colors")."""
    body = strip_lead(request.strip())
    body = _PROMPT_LEAD.sub("", body, count=1)
    body = _IMAGE_WORDS.sub("", body).strip()
    body = re.sub(
        r"^(?:(?:an?\s+)?(?:image|picture|photo|illustration)\s+(?:of|showing|with)\s+)", "", body, flags=re.I
    )
    body = re.sub(r"[,;]?\s*(?:--\w+\s*[\w:.]*\s*)+$", "", body)  # parameters the user typed go to parameters
    body = re.sub(r",?\s*\b\d{1,2}:\d{1,2}\b", "", body)
    # "..., with a negative prompt": what the prompt should have, not what the image shows
    body = re.sub(
        r"[,;]?\s*(?:(?:and|with|plus|include|including|add)\s+)?(?:a\s+)?negative(?:[- ]prompts?)?\b[^,;]*",
        "",
        body,
        flags=re.I,
    )
    return body.strip().lstrip(" ,;:.-").rstrip(" .!?,")


#: The expert a person would ask about an idea's field, by the words that name the field (first match wins, so the
#: more specific fields come first). Used for roles a person would write: "a database architect", not "an
#: impartial advisor who knows a small inventory app".
_EXPERTS = (
    (r"etl|data pipelines?|airflow|dbt|spark|kafka|data warehouse|data lake", "a data engineer"),
    (
        r"postgres(?:ql)?|mysql|mariadb|mongodb|mongo|sqlite|redis|dynamodb|cassandra|elasticsearch|databases?|"
        r"sql server|snowflake|bigquery|supabase|firebase|schema design",
        "a database architect",
    ),
    (
        r"kubernetes|k8s|terraform|aws|azure|gcp|google cloud|serverless|lambda|cloud hosting|heroku|vercel",
        "a cloud architect",
    ),
    (
        r"xss|csrf|sql injection|vulnerabilit(?:y|ies)|penetration|pentest|oauth|authentication|encryption",
        "a security engineer",
    ),
    (r"react|vue|angular|svelte|next\.js|nuxt|tailwind|css|front-?end", "a front-end architect"),
    (r"ios|android|swiftui|kotlin|flutter|react native|mobile app", "a mobile engineer"),
    (
        r"django|flask|fastapi|rails|spring boot|node\.js|express|laravel|graphql|rest api|back-?end|microservices?",
        "a senior back-end engineer",
    ),
    (
        r"machine learning|deep learning|pytorch|tensorflow|neural network|llms?|fine-tun\w*|embeddings",
        "a machine learning engineer",
    ),
    (
        r"outages?|incidents?|latency|on-call|uptime|deploys?|deployments?|ci/cd|cron jobs?|servers?|timeouts?",
        "a site reliability engineer",
    ),
    (r"dns|tcp|vpn|wi-?fi|router|network(?:ing)?|firewall", "a network engineer"),
    (r"taxes|tax return|bookkeeping|accounting|invoices?|vat", "an accountant"),
    (
        r"laptops?|smartphones?|phones?|iphones?|pixel \d+|galaxy s\d+|macbooks?|ipads?|cameras?|headphones|"
        r"tablets?|monitors?",
        "a consumer technology reviewer",
    ),
    (
        r"invest\w*|stocks|etfs?|portfolio|retirement savings|mortgage|loans?|pension|budgeting",
        "a financial planner",
    ),
    (r"contracts?|lease|gdpr|trademark|copyright|lawsuit|legal", "a lawyer"),
    (
        r"seo|marketing|ad campaigns?|advertising|newsletter|social media|branding|go-to-market",
        "a marketing strategist",
    ),
    (r"hiring|recruit\w*|onboarding|performance reviews?|payroll|hr policy", "an HR manager"),
    (r"roadmap|user research|product strategy|feature prioriti[sz]ation|ux|user experience", "a product manager"),
    (r"marathons?|half marathon|(?:5|10)k (?:run|race)|couch to 5k|running|jogging", "a running coach"),
    (r"workouts?|strength training|weightlifting|gym|fitness", "a personal trainer"),
    (r"nutrition|diet|calories|macros|meal prep", "a registered dietitian"),
    (r"heat (?:exchanger|pump)s?|thermodynamics|engines?|turbines?|hvac|refrigerat\w*", "a mechanical engineer"),
    (r"circuits?|electronics|voltage|transistors?|arduino|raspberry pi", "an electrical engineer"),
    (r"electric (?:cars?|vehicles?)|\bevs?\b|hybrid cars?|cars?", "an automotive expert"),
    (r"gardens?|gardening|plants?|lawn|compost", "a horticulturist"),
    (r"recipes?|cooking|baking|cuisine|dishes", "a professional chef"),
    (r"photosynthesis|biology|cells?|dna|genetics|evolution", "a biologist"),
    (r"physics|quantum|gravity|relativity|black holes?", "a physicist"),
    (r"chemistry|molecules?|reactions?|atoms?", "a chemist"),
    (r"economics|inflation|interest rates|recession|supply and demand", "an economist"),
    (r"history|historical|ancient|medieval|world war", "a historian"),
)


#: Poem forms and what each demands, for a poem that names its form.
_POEM_FORMS = (
    (r"haikus?", "a haiku: 3 lines of 5-7-5 syllables"),
    (r"tankas?", "a tanka: 5 lines of 5-7-5-7-7 syllables"),
    (r"limericks?", "a limerick: 5 lines rhyming AABBA, lines 1, 2 and 5 longer than 3 and 4"),
    (r"petrarchan sonnets?|italian sonnets?", "a Petrarchan sonnet: 14 lines, an octave ABBAABBA and a sestet"),
    (r"sonnets?", "a Shakespearean sonnet: 14 lines of iambic pentameter rhyming ABAB CDCD EFEF GG"),
    (r"villanelles?", "a villanelle: 19 lines, five tercets and a quatrain, with two refrains"),
    (r"cinquains?", "a cinquain: 5 lines of 2-4-6-8-2 syllables"),
    (r"acrostics?", "an acrostic: the first letters of the lines spell the given word"),
    (r"free verse", "free verse: no fixed meter or rhyme, line breaks that follow the sense"),
    (r"ballads?", "a ballad: quatrains rhyming ABCB that tell a story"),
    (r"odes?", "an ode: a formal address to its subject, in stanzas"),
)


#: Sales platforms and the listing format each asks for.
_PLATFORMS = (
    (r"amazon", "Amazon's format: a title under 200 characters and five benefit bullets"),
    (r"etsy", "Etsy's format: a title under 140 characters, the description, and 13 tags"),
    (r"shopify", "Shopify's format: a product title, the description, and an SEO title and meta description"),
    (r"ebay", "eBay's format: an 80-character title with the key search words, then the condition and details"),
    (
        r"app store|google play|play store",
        "the store's format: a 30-character subtitle and a 170-character promotional text",
    ),
)


def platform_format(text: str) -> str:
    """The listing format of the sales platform the idea names ("Etsy's format: ..."), or ""."""
    for words, rule in _PLATFORMS:
        if re.search(rf"\b(?:{words})\b", text, re.I):
            return rule
    return ""


#: Programming languages and frameworks, as a developer names them ("a senior Go developer").
_STACKS = (
    ("React Native", r"react native"),
    ("TypeScript", r"typescript|\bts\b"),
    ("JavaScript", r"javascript|\bjs\b|node\.?js"),
    ("React", r"react"),
    ("Vue", r"vue(?:\.js)?"),
    ("Angular", r"angular"),
    ("Svelte", r"svelte"),
    ("Django", r"django"),
    ("Flask", r"flask"),
    ("FastAPI", r"fastapi"),
    ("Rails", r"rails"),
    ("Python", r"python|pandas|pytest"),
    ("Rust", r"rust"),
    ("Kotlin", r"kotlin"),
    ("Swift", r"swift(?:ui)?"),
    ("Java", r"java(?!script)|spring boot"),
    ("C#", r"c#|\.net|dotnet"),
    ("C++", r"c\+\+"),
    ("Ruby", r"ruby"),
    ("PHP", r"php|laravel"),
    (
        "Go",
        r"golang|\bin go\b|\bgo (?:cli|service|program|app|code|function|module|http|handler|api|server|struct|"
        r"library|test)",
    ),
    ("Bash", r"bash|shell script"),
    ("SQL", r"\bsql\b"),
    ("Terraform", r"terraform"),
    ("Elixir", r"elixir"),
    ("Scala", r"scala"),
    ("Haskell", r"haskell"),
    ("Dart", r"dart|flutter"),
    ("R", r"\bin r\b|\br script"),
)


def character_of(request: str) -> str:
    """The character a role-play idea names after "plays", "roleplay as", "act as", "pretend to be" ("a roleplay
    partner that plays a tough landlord so I can ..." -> "a tough landlord"), or ""."""
    match = re.search(
        r"\b(?:plays?|playing|role-?plays?(?:\s+as)?|acts?\s+as|pretends?\s+to\s+be|is)\s+"
        r"((?:an?|the)\s+[^,;.]+?)(?=\s+(?:so|to|for|while|because)\b|[,;.]|$)",  # "... who knows rumours" stays
        request,
        re.I,
    )
    return match.group(1).strip() if match else ""


def stack_of(text: str) -> str:
    """The programming language or framework the idea names ("Go", "React"), or ""."""
    for name, words in _STACKS:
        if re.search(rf"(?<![\w#+])(?:{words})(?![\w#+])", text, re.I):
            return name
    return ""


#: Language names as the supported languages write them, for the target of a translation.
_LANGUAGE_WORDS = {
    "English": "english|inglés|ingles|anglais|englisch|inglese|inglês|engels",
    "Spanish": "spanish|español|espagnol|spanisch|spagnolo|espanhol|spaans",
    "French": "french|francés|français|französisch|francese|francês|frans",
    "German": "german|alemán|allemand|deutsch|tedesco|alemão|duits",
    "Italian": "italian|italiano|italien|italienisch|italiaans",
    "Portuguese": "portuguese|portugués|portugais|portugiesisch|portoghese|português|portugees",
    "Dutch": "dutch|neerlandés|néerlandais|niederländisch|olandese|holandês|nederlands",
    "Japanese": "japanese|japonés|japonais|japanisch|giapponese|japonês|japans",
    "Chinese": "chinese|chino|chinois|chinesisch|cinese|chinês|chinees|mandarin",
    "Greek": "greek|griego|grec|griechisch|greco|grego|grieks",
    "Russian": "russian|ruso|russe|russisch|russo|russisch",
    "Korean": "korean|coreano|coréen|koreanisch|coreano",
    "Arabic": "arabic|árabe|arabe|arabisch|arabo",
    "Polish": "polish|polaco|polonais|polnisch|polacco",
    "Turkish": "turkish|turco|turc|türkisch",
    "Swedish": "swedish|sueco|suédois|schwedisch|svedese",
    "Hindi": "hindi",
}


def translation_target(text: str) -> str:
    """The language a translation request names as its target ("en anglais" -> "English"), the first one named
    ("into Italian, keep dish names in Spanish" -> "Italian"), or ""."""
    found = []
    for name, words in _LANGUAGE_WORDS.items():
        match = re.search(
            rf"\b(?:into|to|in|en|al|a|auf|ins|para(?: o)?|em|naar|nach)\s+(?:el |le |l'|il |o )?(?:{words})\b",
            text,
            re.I,
        )
        if match:
            found.append((match.start(), name))
    return min(found)[1] if found else ""


def poem_form(text: str) -> str:
    """The form a poem idea names, with what the form demands ("a haiku: 3 lines of 5-7-5 syllables"), or ""."""
    for words, form in _POEM_FORMS:
        if re.search(rf"\b(?:{words})\b", text, re.I):
            return form
    return ""


def expert_for(text: str) -> str:
    """The expert for the idea's field ("compare Postgres and MongoDB" -> "a database architect"), or ""."""
    for words, expert in _EXPERTS:
        if re.search(rf"\b(?:{words})\b", text, re.I):
            return expert
    return ""


#: Words before "bot"/"assistant" that say what kind of helper it is, not what it helps with.
_HELPER_WORDS = frozenset(
    """customer customers support service services help helpdesk chat website web site ai virtual friendly smart
helpful online whatsapp sms email voice phone slack discord telegram internal employee hr it faq general
front desk desk concierge front-desk reception receptionist""".split()
)


def topic_of(persona: str, domain: str) -> str:
    """What a bot is for when its name says it ("a dental clinic's booking assistant" -> "booking", "an
    order-tracking chatbot" -> "order-tracking"), or "" for a generic helper ("a customer support bot")."""
    body = persona
    if domain:
        body = body.replace(f"{domain}'s", " ").replace(domain, " ")
    match = re.search(r"((?:[\w-]+\s+){1,2})(?:bot|chatbot|assistant|agent|helper|concierge)s?\b", body, re.I)
    if not match:
        return ""
    words = [w for w in match.group(1).split() if w.lower() not in _HELPER_WORDS]
    words = [w for w in words if w.lower() not in ("a", "an", "the", "our", "my", "for")]
    if not words or any("'" in w for w in words) or re.fullmatch(_BUSINESS, words[-1], re.I):
        return ""  # "a hotel concierge bot": the business, not what the bot is for
    return " ".join(words).lower()


def _leads_with_verb(text: str) -> bool:
    word = (text.split() or [""])[0].lower().strip(",")
    return base_verb(word) in _COMMON_VERBS


def purpose_of(request: str) -> str:
    """What a bot, assistant or agent is for, as an instruction in the idea's words ("a bot that answers
    employees' questions about X" -> "Answer employees' questions about X.")."""
    bot = _PURPOSE_BOT.search(request)
    links = _PURPOSE_LINK.finditer(request, bot.end()) if bot else iter(())
    match = next((m for m in links if _leads_with_verb(m.group(1))), None)  # "agent with access to X that books"
    if not match:
        asked = _QUESTIONS_FOR.search(request)  # "a bot for our nurses' questions about the shift-swap rules"
        if asked:
            return f"Answer {third_person(_ours(asked.group(1)))}."
        doing = _FOR_DOING.search(request)  # "a coach bot for practicing small talk in English"
        return f"Help the user with {third_person(doing.group(1)).strip()}." if doing else ""
    text = match.group(1).strip().rstrip(" .!?,")
    words = text.split()
    if not words:
        return ""
    first = base_verb(words[0])
    if first.lower() not in _COMMON_VERBS and not words[0].lower().endswith("s"):
        return ""
    words[0] = first

    def conj(m: re.Match[str]) -> str:
        base = base_verb(m.group(2))
        return m.group(1) + (base if base.lower() in _COMMON_VERBS else m.group(2))

    text = re.sub(r"(,\s+(?:and\s+)?|\band\s+)(\w+)", conj, " ".join(words))
    text = third_person(text)
    return text[0].upper() + text[1:] + "."


#: Where an idea's brief breaks into clauses: sentence ends (also before a lower-case word, as people type),
#: semicolons, dashes, colons, and commas outside brackets.
_BRIEF_SPLIT = re.compile(
    r"(?<=[a-z0-9)\]'\"])[.!?]\s+|\s*;\s*|\s+[-\u2013\u2014]\s+|\s*:\s+|"
    r",\s+(?![^()]*\))(?!(?:and|or)\s)(?![\w.]+\(\))|"
    # "a returns bot that never promises refunds": the bot, then its rule; "never X and must Y": two rules
    r"\s+(?:that|which|who|and)\s+(?=(?:must|never|should|always|only|cannot|can't|won't|do not|don't)\b)|"
    r",?\s+and\s+(?=" + _ACTION_VERBS + r"\b)",
    re.I,
)
_MODAL_WORD = re.compile(
    r"\b(?:must|never|should|shouldn't|always|only|don't|do not|cannot|can't|has to|have to|" r"up to)\b", re.I
)
_PROMPT_AFTER_BOT = re.compile(
    r"\b((?:bot|chatbot|assistant|agent|tutor|coach|helper|gpt|character)s?)\s+"
    r"(?:system\s+)?(?:prompt|instructions|persona)\b",
    re.I,
)
_BOT_WORD = re.compile(
    r"\b(?:bot|chatbot|assistant|agent|tutor|coach|helper|widget|gpt|character|npc|companion)s?\b", re.I
)
_META_CLAUSE = re.compile(
    r"^(?:(?:i|we)\s+)?(?:need|want|would like|here'?s|make|write|give me|create)?\s*(?:me\s+)?"
    r"(?:(?:an?|the|my|our)\s+)?(?:[\w./-]+\s+){0,4}?(?:system prompt|system message|prompt|"
    r"instructions|persona|custom instructions)s?\s*(?:please)?$",
    re.I,
)
_AS_PERSONA = re.compile(r"^.*?\b(?:acts?|act|behaves?|works?|serves?|pretends?) as\s+", re.I)


def _ours(text: str) -> str:
    """A business's "our" becomes "the" (the bot's user is not the prompt's writer); "my" is the third person."""
    text = re.sub(r"\b[Ww]e(?:'re| are)\b", "the business is", text)
    text = re.sub(r"\bour\b", "the", text)
    text = re.sub(r"\bOur\b", "The", text)
    return third_person(text)


def _clauses(text: str) -> list[str]:
    parts = [p.strip().strip(" ,.;") for p in _BRIEF_SPLIT.split(text)]
    return [p for p in parts if p]


def brief_of(idea: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """An AI-facing idea's brief, clause by clause in the user's words: the persona it describes (the first clause
    naming a bot, tutor, coach or agent: "the support bot for the invoicing tool Billwise"), the other clauses as
    scope lines ("Baggage, seat changes, delays."), and its must / never / only clauses and limits as rules. No
    clause of the idea is dropped except the request for a prompt itself ("need the system prompt")."""
    persona = ""
    scope: list[str] = []
    rules: list[str] = []
    short: list[str] = []

    def flush() -> None:
        if short:
            line = ", ".join(short)
            scope.append(line[0].upper() + line[1:] + ".")
            short.clear()

    for raw in _clauses(" ".join(idea.split())):
        clause = strip_lead(raw)
        if _PROMPT_AFTER_BOT.search(clause):  # "need the customer chat assistant prompt": the assistant
            clause = re.sub(
                r"^(?:(?:i|we)\s+)?(?:need|want|would like)\s+", "", _PROMPT_AFTER_BOT.sub(r"\1", clause), flags=re.I
            )
        elif _META_CLAUSE.match(raw.strip(" ,.;")) or _META_CLAUSE.match(clause.strip(" ,.;")):
            continue
        clause = _PROMPT_LEAD.sub("", clause, count=1).strip(" ,.;")
        if not clause:
            continue
        ruled = _is_rule(clause) or bool(_MODAL_WORD.search(clause))
        if rules and not ruled and re.match(_ACTION_VERBS + r"\b", clause, re.I):  # "... and sends guests on"
            first, _, rest = clause.partition(" ")
            clause, ruled = f"{base_verb(first)} {rest}", True
        if ruled and not (not persona and _BOT_WORD.search(clause) and not _MODAL_WORD.search(clause)):
            flush()
            rule = as_instruction(_ours(clause))
            if rule.lower() not in (r.lower() for r in rules):
                rules.append(rule)
            continue
        if not persona and _BOT_WORD.search(clause) and len(_BOT_WORD.sub("", clause).split()) == 0:
            continue  # "agent prompt": only the kind of prompt, said again
        if not persona and _AS_PERSONA.match(clause) and not _BOT_WORD.search(clause):
            persona = _AS_PERSONA.sub("", clause).strip()  # "makes ChatGPT act as a strict grammar checker"
            continue
        if not persona and _BOT_WORD.search(clause) and len(clause.split()) <= 30:
            body = _AS_PERSONA.sub("", clause) if _AS_PERSONA.match(clause) else clause
            body = re.sub(r"\s+(?:persona|prompt|system prompt)\b", "", body, flags=re.I)
            body = re.sub(r"^(?:(?:write|create|make|build|design|set up|give me)\s+)", "", body, flags=re.I)
            body = _ours(body.strip())
            if not re.match(r"(?:a|an|the|the user's)\b", body, re.I):
                body = "the " + body
            persona = body[0].lower() + body[1:] if not body[:2].isupper() else body
            continue
        text = _ours(clause)
        if len(text.split()) <= 3:
            short.append(text)
            continue
        flush()
        scope.append(text[0].upper() + text[1:] + ("" if text.endswith(("?", "!")) else "."))
    flush()
    return persona, tuple(scope), tuple(rules)


def domain_of(request: str, audience: str) -> str:
    """The business, field or topic ("a pet supplies store", "math", "fractions"), or "" when the idea does not
    name one plainly."""
    possessive = re.search(
        r"\b((?:a|an|the|our|my)\s+(?:[\w-]+\s+){0,3}[\w-]+)'s\s+(?:[\w-]+\s+){0,3}"
        r"(?:bot|chatbot|assistant|agent|chat|website|app|help|support|helpdesk|widget|gpt)",
        request,
        re.I,
    )
    if possessive:
        return re.sub(r"^(?:our|my)\s+", "a ", possessive.group(1), flags=re.I)
    modifier = re.search(
        r"\b(?:(?:a|an|the|my|our)\s+)?((?:[A-Za-z][\w-]*\s+){1,2}?)(?:tutor|coach|teacher)\b", request, re.I
    )
    if modifier:
        words = [w for w in modifier.group(1).split() if w.lower() not in _GENERIC_MODIFIERS]
        if words:
            return " ".join(words)
    if re.search(r"\b(?:tutor|teacher|teaches|teaching)\b", request, re.I):
        subject = _SCHOOL_SUBJECT.search(request)  # "an AI tutor that teaches high school chemistry"
        if subject:
            return subject.group(0) if subject.group(0)[0].isupper() else subject.group(0).lower()
    business = re.search(r"\bfor\s+((?:a|an|the|our|my)\s+(?:[\w'-]+\s+){0,3}?" + _BUSINESS + r")\b", request, re.I)
    if business:
        return re.sub(r"^(?:our|my)\s+", "a ", business.group(1), flags=re.I)
    for pattern in (
        r"\b(?:about|on|with)\s+((?:the|a|an|their|its)\s+)?((?:[\w'-]+\s+){0,3}?[\w'-]+)"
        r"(?=\s+(?:by|that|which|who|and|to|for|so|in|from|using|with)\b|[,;.]|$)",
    ):
        for match in re.finditer(pattern, request, re.I):
            value = ((match.group(1) or "") + match.group(2)).strip()
            if (
                value.lower().split()[-1] not in _NOT_DOMAINS
                and not value.lower().startswith(("me", "my", "i "))
                and value.lower() != audience.lower()
                and not re.search(r"\d", value)
            ):
                return third_person(value)
    return ""


_BUSINESS = (
    r"(?:store|shop|company|business|startup|clinic|practice|restaurant|bakery|cafe|café|agency|firm|brand|chain|"
    r"school|hotel|gym|salon|studio|nonprofit|charity|bank|hospital|library|museum|team|club|app|website|"
    r"platform|service|marketplace|brewery|winery|farm|garage|pharmacy|university|airline|retailer|franchise|"
    r"dealership|insurer|utility|council|city|landlord|coworking space|hostel|campsite|cinema|theater|theatre)"
)
_SCHOOL_SUBJECT = re.compile(
    r"\b(?:math(?:s|ematics)?|algebra|geometry|calculus|statistics|chemistry|physics|biology|history|geography|"
    r"economics|philosophy|literature|grammar|English|Spanish|French|German|Italian|Japanese|Mandarin|Latin|"
    r"programming|coding|Python|JavaScript|music theory|piano|guitar|reading|writing|phonics)\b",
    re.I,
)
_GENERIC_MODIFIERS = frozenset(
    """a an the my our patient friendly personal ai virtual socratic bot chatbot
helpful online private expert experienced good great kind strict tough""".split()
)
_NOT_DOMAINS = frozenset(
    """me them it this that answers questions help kids children students users customers
employees people everyone anyone""".split()
)
_MARATHON = {
    "marathon": "running",
    "half marathon": "running",
    "5k": "running",
    "10k": "running",
    "couch to 5k": "running",
    "ultramarathon": "running",
    "triathlon": "triathlon",
}


# ------------------------------------------------------------------------------------------------ the whole


@dataclass(frozen=True)
class IdeaDetails:
    """Everything of an idea that its prompt must keep. `request` is the idea's request with its rule clauses
    taken out (the user's words); `rules` are those clauses as instructions; `context` the idea's other
    sentences (third person); `facts` the sentences of --context files."""

    idea: str
    request: str
    rules: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    count: str = ""
    entities: tuple[str, ...] = ()
    audience: str = ""
    language: str | None = None
    inputs: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    subject: str = ""
    image_subject: str = ""
    domain: str = ""
    purpose: str = ""
    context: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    aspect_ratio: str = ""
    persona: str = ""  # the bot, tutor, coach or agent the idea describes, in its words
    topic: str = ""  # what that bot is for when its name says it ("booking" for "a booking assistant")
    expert: str = ""  # the expert a person would ask about the idea's field ("a database architect")
    form: str = ""  # the form a poem idea names, with its rules ("a haiku: 3 lines of 5-7-5 syllables")
    stack: str = ""  # the programming language or framework the idea names ("Go")
    target_language: str = ""  # the language a translation request names as its target ("English")
    character: str = ""  # the character a role-play idea asks the model to play ("a tough landlord")
    duration: str = ""  # how long a plan spans ("4 days", "6 weeks", "the weekend")
    length: str = ""  # how long a text should be ("300 words", "5 bullet points", "under 120 words")
    platform: str = ""  # the sales platform an idea names, with its format ("Etsy: a title plus 13 tags")
    scope: tuple[str, ...] = ()  # the idea's other clauses (what the bot covers), in its words
    brief_rules: tuple[str, ...] = ()  # its must / never / only clauses, clause by clause
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def language_name(self) -> str:
        return LANGUAGE_NAMES.get(self.language or "", "")

    def must_keep(self) -> list[str]:
        """The details a prompt for this idea must keep, each a short line."""
        out = list(self.rules)
        out += [n for n in self.numbers if not any(n.lower() in r.lower() for r in self.rules)]
        if self.entities:
            out.append("Names: " + ", ".join(self.entities))
        if self.audience:
            out.append(f"Audience: {self.audience}")
        if self.labels:
            out.append("Labels: " + ", ".join(self.labels))
        if self.fields:
            out.append("Fields: " + ", ".join(self.fields))
        if self.variables:
            out.append("Inputs: " + ", ".join(f"{{{v}}}" for v in self.variables))
        out += list(self.context)
        out += list(self.facts)
        return out


def _split_request(sentence: str) -> tuple[str, list[str]]:
    """The request part of a sentence and its rule clauses ("X; it must never Y and must Z")."""
    parts = [p for p in _CLAUSE_SPLIT.split(sentence) if p and p.strip()]
    if not parts:
        return sentence, []
    request, rules = [parts[0]], list[str]()
    for part in parts[1:]:
        if rules and re.match(_ACTION_VERBS + r"\b", part.strip(), re.I):  # "... and sends guests to the desk"
            first, _, rest = part.strip().partition(" ")
            part = f"{base_verb(first)} {rest}"
            rules.append(part[0].upper() + part[1:])
            continue
        (rules if _is_rule(part) else request).append(part)
    return ", ".join(p.strip().rstrip(",") for p in request), rules


def context_facts(items: list[ContextItem] | None) -> tuple[str, ...]:
    """The facts of the user's --context files (not their rated prompts), a line or sentence each, bounded."""
    out: list[str] = []
    for item in items or []:
        if item.context_type == "example":
            continue
        for line in item.content.splitlines():
            line = line.strip().lstrip("#*->•").strip()
            if not line or len(line) < 4:
                continue
            for sentence in split_sentences(line) or [line]:
                sentence = sentence[:240].rstrip()
                if sentence and sentence not in out:
                    out.append(sentence if sentence.endswith((".", "!", "?", ":")) else sentence + ".")
            if len(out) >= 12:
                return tuple(out[:12])
    return tuple(out)


def extract_details(idea: str, context_items: list[ContextItem] | None = None) -> IdeaDetails:
    """Every detail of the idea the prompt must keep (see the module doc)."""
    from prompt_alchemy.engine.spec import task_sentence

    text = " ".join(idea.split())
    language = detect_language(text)
    sentence, others = task_sentence(text)
    request, rule_clauses = _split_request(sentence)
    context: list[str] = []
    for other in others:
        part_request, part_rules = _split_request(other)
        if _is_rule(part_request):
            rule_clauses.append(part_request)
        elif language is None:
            context.append(third_person(part_request.strip()))
        else:
            context.append(part_request.strip())
        rule_clauses.extend(part_rules)
    rules = tuple(
        dict.fromkeys(
            as_instruction(c) if language is None else c.strip().rstrip(".") + "." for c in rule_clauses if c.strip()
        )
    )
    numbers = tuple(numbers_with_units(text))
    subject = subject_of(request) if language is None else request.strip().rstrip(".")
    ratio = re.search(r"\b(\d{1,2}:\d{1,2})\b", text)
    if not ratio:
        shape = re.search(r"\b(widescreen|wide|landscape|portrait|vertical|square|phone wallpaper)\b", text, re.I)
        ratio_value = (
            {
                "widescreen": "16:9",
                "wide": "16:9",
                "landscape": "3:2",
                "portrait": "2:3",
                "vertical": "9:16",
                "square": "1:1",
                "phone wallpaper": "9:16",
            }[shape.group(1).lower()]
            if shape
            else ""
        )
    else:
        ratio_value = ratio.group(1)
    audience = stated_audience(text)
    first_sentence = re.split(r"(?<=[a-z0-9)])[.!?]\s+", request, maxsplit=1)[0]
    domain = domain_of(first_sentence, audience) if language is None else ""
    persona, scope, brief_rules = brief_of(text) if language is None else ("", (), ())
    domain = _MARATHON.get(domain.lower(), domain)
    for word, sport in _MARATHON.items():
        if re.search(rf"\b{re.escape(word)}\b", text, re.I) and "coach" in text.lower():
            domain = sport
            break
    return IdeaDetails(
        idea=idea,
        request=request.strip().rstrip(" ,;"),
        rules=rules,
        numbers=numbers,
        count=_count(list(numbers)),
        entities=tuple(named_entities(text)) if language != "de" else (),
        audience=audience,
        language=language,
        inputs=tuple(named_inputs(request)),
        variables=tuple(sorted(variables(text), key=text.find)),
        labels=tuple(labels_in(text)),
        fields=tuple(fields_in(text)),
        subject=subject,
        image_subject=image_subject(request),
        domain=domain,
        purpose=purpose_of(request) if language is None else "",
        context=tuple(context),
        facts=context_facts(context_items),
        aspect_ratio=ratio_value,
        persona=persona,
        topic=topic_of(persona, domain) if persona else "",
        expert=expert_for(request) if language is None else "",
        form=poem_form(text),
        stack=stack_of(text),
        target_language=translation_target(text),
        character=character_of(request),
        duration=duration_of(text, list(numbers)),
        length=length_of(list(numbers)),
        platform=platform_format(text),
        scope=scope,
        brief_rules=brief_rules,
    )
