"""End to end: ``dvc exp run`` with a param override on a copy of the shared smoke run (conftest.smoke_run), in a
file of its own so that pytest-xdist's ``--dist loadfile`` can run it beside test_pipeline.py."""

import json

import pytest

from test_pipeline import ROUND2, dvc, ran_stages

pytestmark = pytest.mark.slow


def test_exp_run_switches_the_objective_and_reuses_what_it_does_not_touch(own_repo):
    repo = own_repo
    # round 2 only (the cheaper switch; a top-level dpo.objective reaches both rounds through the same merge)
    out = dvc("exp", "run", "-S", "+iterations.r2.dpo.objective=simpo", cwd=repo).stdout
    ran = set(ran_stages(out))
    # everything before round 2's DPO comes from DVC's cache; downstream stages whose inputs came out
    # byte-identical are skipped, hence a range
    assert {"dpo@r2", "answer_round@r2"} <= ran <= ROUND2 - {"generate@r2", "judge@r2", "pairs@r2"}, out
    show = dvc("exp", "show", "--csv", cwd=repo).stdout
    # unique names lose the file prefix; final.* from eval.json and qa.json side by side
    assert "iterations.r2.dpo.objective" in show and "simpo" in show and "final.length_ratio_vs_sft.value" in show
    assert "final.em_delta_vs_sft.ci_low" in show and "final.usefulness_delta_vs_sft.ci_high" in show
    diff = json.loads(dvc("metrics", "diff", "--json", cwd=repo).stdout)
    assert diff["metrics/rounds/r2/dpo.json"]["train_loss"]["new"] != diff["metrics/rounds/r2/dpo.json"]["train_loss"]["old"]
