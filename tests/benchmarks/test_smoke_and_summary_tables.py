"""A smoke run's table says so (promoter_budget), and the force-field summary table is well formed
whatever the codes of the run."""

from __future__ import annotations


def _cells(line: str) -> int:
    return len(line.strip().strip("|").split("|"))


def test_the_budget_table_of_a_quick_run_says_it_is_not_a_measurement(load_benchmark):
    budget = load_benchmark("promoter_budget")
    prov = {"command": "x", "commit": "0" * 40, "date": "2026-12-05"}
    units = [{"budget": b, "fraction": 0.05, "seed": 0, "test": {"accuracy": 0.7}} for b in ("0", "0.5")]
    record = {
        "provenance": prov,
        "protocol": {"seeds": [0], "quick": True},
        "pretraining": {"0.5": {"steps": 10, "cpu_s": 30.0}},
        "units": units,
    }
    assert "**Smoke run (`--quick`): not a measurement.**" in budget.render({"b": record}, "b")
    record["protocol"]["quick"] = False
    assert "Smoke run" not in budget.render({"b": record}, "b")


def _summary(forcefield, codes):
    units = [
        {
            "molecule": "ethanol",
            "code": c,
            "seed": s,
            "budget_min": 2.5,
            "test": {"forces_rmse_meV_per_A": 60.0 + s},
        }
        for c in codes
        for s in (0, 1)
    ]
    plan = {"molecules": ["ethanol"], "codes": codes, "seeds": [0, 1], "budgets_min": [2.5]}
    return forcefield.render_summary({"plan": plan, "units": units}).splitlines()


def test_the_forcefield_summary_table_has_as_many_cells_as_columns(load_benchmark):
    forcefield = load_benchmark("forcefield_vs_mace")
    for codes in (["ours"], ["ours", "mace-small"], ["mace-small"]):
        lines = _summary(forcefield, codes)
        header = next(i for i, line in enumerate(lines) if line.startswith("| molecule |"))
        widths = {_cells(line) for line in lines[header:] if line.startswith("|")}
        assert widths == {2 + len(codes) + ("ours" in codes) * (len(codes) - 1)}, (codes, lines[header:])
