"""Stage prepare: oasst1 (Hub or local export) → Russian prompt/reply examples, split by tree.

    python -m stages.prepare --out data/prepared --metrics metrics/prepare.json
"""

import logging
from collections import Counter

from ru_selfalign.io import InputError, atomic_path, write_json, write_jsonl
from ru_selfalign.oasst import SPLITS, build_examples, load_messages, split_by_tree
from ru_selfalign.runtime import start_stage

log = logging.getLogger("prepare")


def main() -> None:
    args, params = start_stage("prepare", __doc__, ("out", "metrics"))
    cfg = params.prepare
    export = load_messages(params.data, cfg.skip_bad_lines)
    messages, bad_lines = export.messages, export.bad_lines
    for where in bad_lines:
        log.warning("skipped %s", where)
    replies, prompts, dropped = build_examples(messages, cfg)
    source = params.data.hub_id if params.data.source == "hub" else params.data.path
    if not prompts:
        langs = Counter(m["lang"] for m in messages).most_common(5)
        raise InputError(f"{source}: no usable prompts with lang == '{cfg.lang}' (prepare.lang) among {len(messages)} "
                         f"messages; languages present: {langs}; dropped: {dict(dropped)}")
    split_of = split_by_tree([p["tree_id"] for p in prompts], cfg.val_fraction, cfg.test_fraction,
                             params.data.split_seed)
    counts = {}
    with atomic_path(args.out, is_dir=True) as tmp:
        for split in SPLITS:
            rows = [r for r in replies if split_of[r["tree_id"]] == split]
            split_prompts = [p for p in prompts if split_of[p["tree_id"]] == split]
            write_jsonl(tmp / f"{split}.jsonl", rows)
            write_jsonl(tmp / f"prompts_{split}.jsonl", split_prompts)
            counts[split] = {"trees": len({p["tree_id"] for p in split_prompts}), "prompts": len(split_prompts),
                             "replies": len(rows), "prompts_without_reply": sum(p["n_replies"] == 0 for p in split_prompts)}
    log.info("kept %d replies and %d prompts; dropped %s", len(replies), len(prompts), dict(dropped))
    write_json(args.metrics, {"messages_read": len(messages), "bad_lines_skipped": len(bad_lines),
                              "duplicates_dropped": export.duplicates_dropped, "dropped": dict(sorted(dropped.items())),
                              "splits": counts})


if __name__ == "__main__":
    main()
