"""The RESULTS pages are what the committed raw results say: regenerating them changes nothing."""

from __future__ import annotations


def test_every_generated_block_matches_the_committed_results(capsys, load_benchmark):
    assert load_benchmark("report").main(["--check"]) == 0, capsys.readouterr().err


def test_a_block_is_replaced_by_its_renderer_and_prose_is_kept(load_benchmark):
    report = load_benchmark("report")
    report.RENDERERS["toy"] = lambda results: f"{results['toy']['value']} rows\n"
    page = "prose\n<!-- generated: toy -->\nstale\n<!-- end: toy -->\nmore prose\n"
    assert report.render_page(page, {"toy": {"value": 3}}) == (
        "prose\n<!-- generated: toy -->\n3 rows\n<!-- end: toy -->\nmore prose\n"
    )


def test_a_marker_without_its_partner_is_named(load_benchmark):
    # a renamed end marker turned its block into prose that --check never compared
    report = load_benchmark("report")
    page = (
        "<!-- generated: a -->\n1\n<!-- end: a -->\n<!-- generated: b -->\nhand-typed 2\n<!-- end: bb -->\n"
    )
    assert report.unmatched_markers(page) == ["<!-- generated: b -->", "<!-- end: bb -->"]
    assert report.unmatched_markers("<!-- generated: a -->\n1\n<!-- end: a -->\n") == []
