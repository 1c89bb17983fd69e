"""Chat formatting: the one place where dialogues become model input text."""

from __future__ import annotations


def prompt_text(tokenizer, messages: list[dict], system: str | None = None) -> str:
    """Dialogue → the model's own chat template, ending where the assistant starts to speak."""
    if system is not None:
        messages = [{"role": "system", "content": system}, *messages]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def single_token_ids(tokenizer, symbols: tuple[str, ...]) -> list[int]:
    """Token ids of symbols that must each be one token (score digits, the letters A/B)."""
    ids = []
    for s in symbols:
        encoded = tokenizer.encode(s, add_special_tokens=False)
        if len(encoded) != 1:
            raise ValueError(f"tokenizer splits {s!r} into {len(encoded)} tokens; the judge needs it as one token")
        ids.append(encoded[0])
    return ids
