import io
import json
import subprocess
import sys

import pytest

from conftest import REPO
from ru_selfalign.chat_cli import resolve

pytestmark = pytest.mark.slow


def test_resolve_stage_folders(tmp_path):
    adapter = tmp_path / "dpo"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "models/base"}))
    assert resolve(str(adapter), None) == ("models/base", str(adapter))
    assert resolve(str(adapter), "/elsewhere/base") == ("/elsewhere/base", str(adapter))
    passthrough = tmp_path / "sft"
    passthrough.mkdir()
    (passthrough / "passthrough.json").write_text("{}")
    assert resolve(str(passthrough), None) == ("models/base", None)
    assert resolve("Qwen/Qwen2.5-0.5B-Instruct", None) == ("Qwen/Qwen2.5-0.5B-Instruct", None)


def test_reply_streams_and_history_reaches_the_template(smoke_model_dir, monkeypatch):
    from ru_selfalign import chat_cli
    from ru_selfalign.models import load_model, load_tokenizer

    tok, model = load_tokenizer(smoke_model_dir), load_model(smoke_model_dir)
    seen = []
    original = chat_cli.prompt_text
    monkeypatch.setattr(chat_cli, "prompt_text", lambda t, h: seen.append(list(h)) or original(t, h))
    history = [{"role": "user", "content": "Привет!"}]
    out = io.StringIO()
    first = chat_cli.reply(model, tok, history, {"do_sample": False, "max_new_tokens": 8}, out)
    assert first and out.getvalue().strip() == first
    history += [{"role": "assistant", "content": first}, {"role": "user", "content": "А ещё?"}]
    chat_cli.reply(model, tok, history, {"do_sample": False, "max_new_tokens": 8}, io.StringIO())
    assert [m["content"] for m in seen[-1]] == ["Привет!", first, "А ещё?"]
    assert "<|im_start|>user\nПривет!" in original(tok, seen[-1])


def test_one_shot_command(smoke_model_dir):
    proc = subprocess.run([sys.executable, "-m", "ru_selfalign.chat_cli", "--model", str(smoke_model_dir),
                           "--prompt", "Столица Франции?", "--max-new-tokens", "8"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()
