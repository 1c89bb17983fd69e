"""Stage base_model: materialise the base model + tokenizer as a plain HF folder.

    python -m stages.base_model --out models/base --metrics metrics/base_model.json
"""

from ru_selfalign.io import write_json
from ru_selfalign.models import materialise_base
from ru_selfalign.runtime import start_stage


def main() -> None:
    args, params = start_stage("base_model", __doc__, ("out", "metrics"))
    info = materialise_base(params.base_model, args.out)
    write_json(args.metrics, info)


if __name__ == "__main__":
    main()
