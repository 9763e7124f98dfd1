"""Language identification with py3langid (langid.py's model, shipped inside the package).

Restricted to the languages a deployment expects (``AI_LANGUAGES``): on the short texts of
tickets, fewer candidates mean fewer confusions (Spanish with Portuguese, Dutch with Afrikaans).
The probabilities are the package's normalised ones (a softmax tempered by the text's length).
"""

from collections.abc import Sequence
from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

# The opening of a text tells its language; reading 20,000 characters byte by byte would not.
MAX_LANGUAGE_CHARS = 1000
DEFAULT_LANGUAGES = "en,de,fr,es,pt,it,nl,sv,da,no,fi,pl,cs,ro,hu,el,ru,uk,tr,ar,he,ja,zh,ko,hi"


@lru_cache(maxsize=4)
def _identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    """Loading the model takes a second: once per process and set of languages."""
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    known = set(identifier.labels)
    unknown = sorted(set(languages) - known)
    if unknown:
        raise ValueError(f"py3langid does not know the language code(s) {unknown}")
    identifier.set_languages(list(languages))
    return identifier


class LanguageModel:
    def __init__(self, languages: Sequence[str]) -> None:
        self._identifier = _identifier(tuple(languages))
        self.languages = tuple(languages)

    def rank(self, text: str, k: int = 3) -> list[tuple[str, float]]:
        ranked = self._identifier.rank(text[:MAX_LANGUAGE_CHARS])[:k]
        return [(str(lang), round(float(p), 4)) for lang, p in ranked]
