"""Stage select: the SFT set = the best-ranked train reply per prompt that passes the human quality threshold.

    python -m stages.select --prepared data/prepared --out data/sft/train.jsonl --metrics metrics/select.json
"""

from pathlib import Path

from ru_selfalign.io import InputError, read_jsonl, write_json, write_jsonl
from ru_selfalign.runtime import start_stage
from ru_selfalign.selection import select_sft_examples


def main() -> None:
    args, params = start_stage("select", __doc__, ("prepared", "out", "metrics"))
    cfg = params.select
    replies = read_jsonl(Path(args.prepared) / "train.jsonl")
    selected, stats = select_sft_examples(replies, cfg.min_quality, cfg.min_count)
    if not selected and params.sft.enabled:
        raise InputError(
            f"select.min_quality={cfg.min_quality} with select.min_count={cfg.min_count} keeps 0 of {len(replies)} "
            f"train replies ({stats['below_min_count']} below min_count, {stats['below_min_quality']} below min_quality); "
            "lower the threshold or set sft.enabled: false"
        )
    write_jsonl(args.out, selected)
    write_json(args.metrics, stats)


if __name__ == "__main__":
    main()
