"""Stage report: evaluation report in markdown plus the data behind the evaluation plots.

    python -m stages.report --answers data/eval/answers.jsonl --eval metrics/eval.json --rounds-metrics metrics/rounds \
        --out metrics/report.md --plots metrics/plots/eval
"""

from pathlib import Path

from ru_selfalign.io import atomic_path, read_json, read_jsonl, write_json, write_text
from ru_selfalign.report import build_report, plot_rows
from ru_selfalign.runtime import start_stage


def main() -> None:
    args, params = start_stage("report", __doc__, ("answers", "eval", "rounds_metrics", "out", "plots"))
    answers = read_jsonl(args.answers)
    rounds = {key: {"objective": rnd.dpo.objective, **{name: read_json(Path(args.rounds_metrics) / key / f"{name}.json")
                                                       for name in ("pairs", "dpo")}}
              for key, rnd in params.rounds.items()}
    write_text(args.out, build_report(read_json(args.eval), answers, params.model_names, rounds, params.evaluate.num_examples,
                                      params.evaluate.seed))
    with atomic_path(args.plots, is_dir=True) as tmp:
        for name, rows in plot_rows(answers, params.model_names).items():
            write_json(Path(tmp) / f"{name}.json", rows)


if __name__ == "__main__":
    main()
