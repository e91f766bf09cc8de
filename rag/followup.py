"""Follow-up questions ("Und wie viele Bauarbeiter?") made standalone before retrieval."""
from __future__ import annotations

from collections.abc import Sequence

from rag.config import Settings
from rag.llm import LLMError, complete
from rag.schema import TokenUsage
from rag.terms import terms, words

_OPENERS = ("und ", "and ", "aber ", "but ", "what about", "how about", "was ist mit", "wie ist es mit", "auch ")
# Words that point back. Left out as too ambiguous: "es" ("Gibt es …"), "sie" (also the polite "Sie"), "da"
# ("because"), "it"/"this"/"that" (dummy subject, conjunction); a question using them in that sense is short anyway.
_REFERRING = {
    "er", "ihm", "ihn", "ihr", "ihre", "ihren", "sein", "seine", "dort", "damals", "dies", "diese", "dieser",
    "dieses", "davon", "dabei", "dazu", "he", "she", "him", "his", "her", "they", "them", "their", "there", "those",
    "these",
}
MIN_OWN_TERMS = 2  # fewer content words than this ("Wann soll es eröffnen?") cannot name a subject of its own

REWRITE_PROMPT = (
    "Rewrite the user's last question as one standalone question that can be understood without the conversation, "
    "in the language of that question. Reply with the question only."
)


def message_text(content: object) -> str:
    """The text of a chat message's content: a string, or a list of parts (`[{"type": "text", "text": …}, …]`, the
    shape of OpenAI requests and of Gradio's chat history); parts that are not text (files, images) add nothing."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = (part.get("text") for part in content if isinstance(part, dict) and part.get("type") == "text")
        return " ".join(text or "" for text in texts)
    return ""


def is_follow_up(question: str) -> bool:
    """Whether a question leans on the one before: it opens like a continuation, refers back, or has too few
    content words to name its subject ("Wer ist Olaf Scholz?" names one; "Wie hoch war sie?" does not)."""
    q = question.strip().lower()
    return q.startswith(_OPENERS) or any(w in _REFERRING for w in words(q)) or len(terms(q)) < MIN_OWN_TERMS


def standalone_question(
    question: str, previous: Sequence[str], settings: Settings, usage: TokenUsage | None = None
) -> str:
    """The question to retrieve with. With an LLM, it rewrites follow-ups from the conversation; without one (or if
    it fails), a follow-up is searched together with the previous question."""
    if not previous or not is_follow_up(question):
        return question
    if settings.llm_enabled:
        conversation = "\n".join(f"User: {q}" for q in previous[-3:])
        messages = [
            {"role": "system", "content": REWRITE_PROMPT},
            {"role": "user", "content": f"{conversation}\nUser (last question): {question}"},
        ]
        try:
            rewritten = "".join(complete(settings, messages, stream=False, usage=usage)).strip()
            if rewritten and len(rewritten) < 500:
                return rewritten
        except LLMError:
            pass
    return f"{previous[-1]} {question}"
