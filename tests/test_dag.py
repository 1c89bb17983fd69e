"""The stage graph DVC builds from dvc.yaml + params.yaml: one generate → judge → pairs → dpo chain per round, each
round starting from the previous round's model, and no round-1 stage tracking a later round's params."""

import shutil

import networkx as nx
import pytest
import yaml

from conftest import REPO, stage_graph

ROUND_STAGES = ("generate", "judge", "pairs", "dpo")


def needs(graph, stage) -> set[str]:
    """Every stage that ``stage`` depends on, directly or not."""
    return nx.descendants(graph, stage)


def with_rounds(tmp_path, n: int):
    """dvc.yaml with the default params extended to ``n`` rounds, each starting from the previous round's model."""
    from dvc.repo import Repo

    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    for r in range(2, n + 1):
        raw["iterations"][f"r{r}"] = {"model_in": f"models/dpo/r{r - 1}", "prompt_block": r - 1, "generate": {},
                                      "judge": {}, "pairs": {}, "dpo": {}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    Repo.init(str(tmp_path), no_scm=True).close()
    return tmp_path


def test_each_round_chains_from_the_previous_rounds_model(tmp_path):
    repo = with_rounds(tmp_path, 2)
    graph, params = stage_graph(repo)
    rounds = list(yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))["iterations"])
    assert rounds == ["r1", "r2"]
    for key in rounds:
        chain = [f"{stage}@{key}" for stage in ROUND_STAGES]
        for later, earlier in zip(chain[1:], chain):
            assert earlier in needs(graph, later), f"{later} must run after {earlier}"
        assert f"dpo@{key}" in graph.successors(f"answer_round@{key}")
    assert "sft" in graph.successors("generate@r1") and "calibrate" in graph.successors("pairs@r1")
    assert not nx.ancestors(graph, "agreement"), "agreement is analysis: nothing may depend on it"
    for stage in ("generate", "judge", "dpo"):  # round 1's model generates, judges and is where DPO starts
        assert "dpo@r1" in graph.successors(f"{stage}@r2"), f"{stage}@r2 must start from round 1's model"
    # round 1 never waits for round 2; each round stage tracks only its own round's override of its own section
    for stage in ROUND_STAGES:
        assert not {n for n in needs(graph, f"{stage}@r1") if n.endswith("@r2")}
        own = {f"iterations.r1.{stage}"} | ({"iterations.r1.prompt_block"} if stage == "generate" else set())
        assert {p for p in params[f"{stage}@r1"] if p.startswith("iterations")} == own
    assert {"answer@base", "answer@sft", "answer_round@r1", "answer_round@r2"} <= set(graph.successors("evaluate"))


def test_a_third_round_in_params_adds_its_chain_after_round_two(tmp_path):
    graph, _ = stage_graph(with_rounds(tmp_path, 3))
    assert {f"{stage}@r3" for stage in ROUND_STAGES} | {"answer_round@r3"} <= set(graph)
    assert "dpo@r2" in graph.successors("generate@r3") and "dpo@r1" in needs(graph, "dpo@r3")
    assert "answer_round@r3" in graph.successors("evaluate")
