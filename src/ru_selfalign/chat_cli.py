"""Talk to any stage's model: ``python -m ru_selfalign.chat_cli`` (the last round's model) or ``--model models/sft``.

``--model`` is a stage folder (a LoRA adapter from sft/dpo, or the passthrough of ``sft.enabled: false``),
a plain HF model folder (``models/base``, an exported model) or a Hub id (online). The answer streams
token by token; the dialogue history is kept until ``/reset``; ``/exit`` or Ctrl-D quits.
``--prompt "..."`` answers once and exits (for scripts).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .chat import prompt_text
from .models import ADAPTER_CONFIG, load_model, load_tokenizer


def resolve(model: str, base: str | None) -> tuple[str, str | None]:
    """(base model, adapter or None) for a stage folder, a model folder or a Hub id."""
    folder = Path(model)
    if (folder / ADAPTER_CONFIG).is_file():
        with open(folder / ADAPTER_CONFIG, encoding="utf-8") as fh:
            return base or json.load(fh)["base_model_name_or_path"], model
    if (folder / "passthrough.json").is_file():  # sft.enabled: false
        return base or "models/base", None
    return model, None


def reply(model, tokenizer, history: list[dict], sampling: dict, stream) -> str:
    """Generate the assistant's next turn, printing it token by token to ``stream``."""
    from transformers import TextStreamer

    class _Streamer(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False):
            stream.write(text + ("\n" if stream_end else ""))
            stream.flush()

    enc = tokenizer(prompt_text(tokenizer, history), return_tensors="pt", add_special_tokens=False).to(model.device)
    with torch.inference_mode():
        out = model.generate(**enc, **sampling, pad_token_id=tokenizer.pad_token_id,
                             streamer=_Streamer(tokenizer, skip_prompt=True, skip_special_tokens=True))
    return tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="default: the last self-rewarding round's model, models/dpo/<round> (params.yaml)")
    parser.add_argument("--base", help="base model folder for an adapter (default: the one it was trained on)")
    parser.add_argument("--prompt", help="answer this once and exit")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--repetition-penalty", type=float, default=1.1)
    args = parser.parse_args(argv)
    if args.model is None:
        from .config import load_params

        args.model = str(load_params().final_adapter("models/dpo"))

    base, adapter = resolve(args.model, args.base)
    tokenizer = load_tokenizer(base)
    model = load_model(base, adapter)
    sampling = {"max_new_tokens": args.max_new_tokens, "repetition_penalty": args.repetition_penalty}
    if args.temperature > 0:
        sampling.update(do_sample=True, temperature=args.temperature, top_p=args.top_p)
    else:
        sampling["do_sample"] = False

    if args.prompt is not None:
        reply(model, tokenizer, [{"role": "user", "content": args.prompt}], sampling, sys.stdout)
        return
    print(f"model: {args.model} (base {base}); /reset clears the dialogue, /exit quits", flush=True)
    history: list[dict] = []
    while True:
        sys.stdout.write("you> ")
        sys.stdout.flush()
        try:
            line = input().strip()
        except EOFError:
            break
        if line in ("/exit", "/quit"):
            break
        if line == "/reset":
            history = []
            continue
        if not line:
            continue
        history.append({"role": "user", "content": line})
        sys.stdout.write("bot> ")
        history.append({"role": "assistant", "content": reply(model, tokenizer, history, sampling, sys.stdout)})


if __name__ == "__main__":
    main()
