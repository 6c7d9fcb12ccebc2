"""Reading points: columns, units, ranges, digitised scaling (domains/surrogates/data.py), the text
under them (table.py) and the ratios refused as not independent (independence.py)."""

import numpy as np
import pytest

from sciPT.domains.surrogates.data import read_digitised, read_points, taslim_series, write_points
from sciPT.errors import DataError

TASLIM_FILE = "fig4_ar_3.5_solid_circles_eDh_0.053.csv"


def refusal(path) -> str:
    """The one line :func:`read_points` refuses ``path`` with."""
    with pytest.raises(DataError) as err:
        read_points(path)
    return str(err.value)


def test_reads_named_columns_units_groups_and_labels(write_csv):
    path = write_csv("p.csv", "series,re [-],PR,Nu (-),e_Dh", "a,2e4,0.7,190,0.1", "b,5e4,0.71,300,0.1")
    pts = read_points(path)
    assert pts.re.tolist() == [2e4, 5e4]
    assert pts.pr.tolist() == [0.7, 0.71]
    assert pts.nu.tolist() == [190, 300]
    assert list(pts.groups) == ["e_Dh"]
    assert pts.labels == {"series": ["a", "b"]}
    assert pts.lines.tolist() == [2, 3]
    assert pts.features(["e_Dh"])[0] == pytest.approx([1, np.log(2e4), np.log(0.7), np.log(0.1)])


def test_a_ratio_asked_for_in_another_case_is_read_and_written_once(write_csv, tmp_path):
    from sciPT.domains.surrogates.data import write_points

    path = write_csv("p.csv", "series,Re,Pr,E_DH,Nu", "a,2e4,0.7,0.1,190", "b,5e4,0.7,0.1,300")
    pts = read_points(path, groups=["e_Dh"])  # the model's spelling
    assert list(pts.groups) == ["e_Dh"] and pts.labels == {"series": ["a", "b"]}
    out = tmp_path / "out.csv"
    write_points(out, pts, {"Nu_pred": np.array([200.0, 310.0])})
    # in the file's place, under the model's name, as Re, Pr and Nu are
    assert out.read_text().splitlines() == [
        "series,Re,Pr,e_Dh,Nu,Nu_pred",
        "a,20000,0.7,0.1,190,200",
        "b,50000,0.7,0.1,300,310",
    ]


def test_a_ratio_named_with_a_decomposed_accent_is_the_ratio_the_model_names_composed(write_csv, tmp_path):
    import unicodedata

    from sciPT.domains.surrogates.data import write_points

    composed = "rugosit\u00e9"  # é as one code point (NFC), as typed
    decomposed = unicodedata.normalize("NFD", composed)  # e + combining acute, as some programs save
    assert decomposed != composed
    path = write_csv("p.csv", f"Re,Pr,{decomposed},Nu,remarque", "2e4,0.7,0.1,190,a", "5e4,0.7,0.1,300,b")
    pts = read_points(path, groups=[composed], require_nu=False)
    assert list(pts.groups) == [composed] and pts.groups[composed].tolist() == [0.1, 0.1]
    assert pts.labels == {"remarque": ["a", "b"]}  # the ratio read once, not also kept as a label
    out = tmp_path / "out.csv"
    write_points(out, pts)
    assert out.read_text().splitlines()[0] == f"Re,Pr,{composed},Nu,remarque"


def test_the_user_s_own_values_are_written_back_as_read(write_csv, tmp_path):
    # six significant digits made 1234567 and 1234571 one row, and Nu 58.90363331 another number
    from sciPT.domains.surrogates.data import write_points

    path = write_csv("p.csv", "Re,Pr,Nu", "1234567,0.7123456,58.90363331", "1234571,0.7123456,1234.5")
    out = tmp_path / "out.csv"
    write_points(out, read_points(path), {"Nu_pred": np.array([58.9036333, 1.234567891])})
    assert out.read_text().splitlines() == [
        "Re,Pr,Nu,Nu_pred",
        "1234567,0.7123456,58.90363331,58.9036",
        "1234571,0.7123456,1234.5,1.23457",
    ]


@pytest.mark.parametrize(
    "lines, message",
    [
        (
            ["Re,Pr,Nu", "2e4,0.7,-5"],
            "line 2: Nu = -5 is not a positive number (Nu must be a positive dimensionless number)",
        ),
        (
            ["Re,Pr,Nu", "0,0.7,50"],
            "line 2: Re = 0 is not a positive number (Re must be a positive dimensionless number)",
        ),
        (
            ["Re,Nu", "2e4,50"],
            ": missing column 'Pr' (expected Re, Pr, Nu and optional geometric ratios; found: Re, Nu)",
        ),
        (
            ["Re,Pr,Nu [W/m2K]", "2e4,0.7,50"],
            ": column 'Nu [W/m2K]' has unit 'W/m2K', but Nu must be a "
            "dimensionless number (convert it first)",
        ),
        (["Re,Pr,Nu", "2e4,0.7,abc"], "line 2: Nu = 'abc' is not a number"),
        (
            ["Re,Pr,Nu", "2e4,0.7,2e6"],
            "line 2: Nu = 2e+06 is outside the physical range [0.01, 100000] of Nu",
        ),
        (["Re,Pr,Nu", "2e4,0.7"], "line 2: 2 fields, expected 3 as in the header"),
        (["Re,Pr,Nu"], ": no data rows after the header"),
        (
            ["Re,Pr,Nu,e_Dh", "2e4,0.7,190,0.083", "3e4,0.7,240,0.O83", "4e4,0.7,280,0.083"],
            "line 3: e_Dh = '0.O83' is not a number (the column's other values are: a geometric "
            "ratio needs a number in every row, a label column text)",
        ),
    ],
)
def test_bad_points_are_refused_with_the_line(write_csv, lines, message):
    path = write_csv("bad.csv", *lines)
    with pytest.raises(DataError) as err:
        read_points(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_a_label_column_may_hold_a_few_numbers(write_csv):
    path = write_csv("labels.csv", "series,Re,Pr,Nu", "a,2e4,0.7,190", "b,3e4,0.7,240", "7,4e4,0.7,280")
    pts = read_points(path)
    assert pts.groups == {} and pts.labels == {"series": ["a", "b", "7"]}


@pytest.mark.parametrize("delimiter", ["\t", ";"])
def test_tab_and_semicolon_separated_files_are_read(write_csv, delimiter):
    rows = [delimiter.join(r) for r in (("Re", "Pr", "e_Dh", "Nu"), ("2e4", "0.7", "0.1", "190"))]
    pts = read_points(write_csv("sheet.csv", *rows))
    assert (pts.re.tolist(), pts.pr.tolist(), pts.nu.tolist()) == ([2e4], [0.7], [190])
    assert pts.groups["e_Dh"].tolist() == [0.1]


@pytest.mark.parametrize(
    "header, message",
    [
        (
            "Re,Pr,Nu,Re",
            "column 'Re' is named twice in the header (columns 1 and 4); expected each column once",
        ),
        (
            "Re,Pr,Nu [-],nu",
            "column 'Nu' is named twice in the header (columns 3 ('Nu [-]') and 4 ('nu')); "
            "expected each column once",
        ),
        (
            "series,Re,Pr,Nu,series",
            "column 'series' is named twice in the header (columns 1 and 5); expected each column once",
        ),
        ("Re,Pr,,Nu", "column 3 of the header has no name; expected Re, Pr, Nu or a geometric ratio"),
        ("Re,Pr,Nu, ", "column 4 of the header has no name; expected Re, Pr, Nu or a geometric ratio"),
        ("Re,,Pr,Nu", "column 2 of the header has no name; expected Re, Pr, Nu or a geometric ratio"),
        (
            ",Re,Pr,Nu",
            "column 1 of the header has no name; expected Re, Pr, Nu or a geometric ratio (an index "
            "written by pandas has none: save with index=False)",
        ),
    ],
)
def test_a_header_naming_a_column_twice_or_not_at_all_is_refused(write_csv, header, message):
    fields = header.count(",") + 1
    path = write_csv("head.csv", header, ",".join(["2e4", "0.7", "190", "1", "2"][:fields]))
    assert refusal(path) == f"{path}: {message}"


def test_white_space_around_column_names_is_dropped(write_csv):
    pts = read_points(write_csv("spaced.csv", " Re , Pr,Nu [-] ,\te_Dh", "2e4, 0.7 ,190,0.1"))
    assert (pts.re.tolist(), pts.pr.tolist(), pts.nu.tolist()) == ([2e4], [0.7], [190])
    assert pts.groups["e_Dh"].tolist() == [0.1]


def test_scaled_reynolds_number_gets_a_hint(write_csv):
    path = write_csv("scaled.csv", "Re,Pr,Nu", "0.5,0.7,232")
    with pytest.raises(DataError, match=r"\(is the column scaled, e.g. Re x 1e-4\?\)"):
        read_points(path)


def test_digitised_axes_are_scaled_back_and_sorted(repo):
    path = repo / "data_recipes/heat_transfer/taslim_spring1987" / TASLIM_FILE
    raw = np.loadtxt(path, delimiter=",", skiprows=1)
    pts = read_digitised(path)
    order = np.argsort(raw[:, 0])
    assert pts.re == pytest.approx(raw[order, 0] * 1e4)
    assert pts.nu == pytest.approx(raw[order, 1] * 1e3)
    assert pts.re[0] == pytest.approx(36460.2)  # x = 3.64602 in the file
    assert pts.pr.tolist() == [0.7] * len(raw)


def test_digitised_file_with_the_wrong_scaling_is_refused(write_csv):
    path = write_csv("already_re.csv", "x,y", "36460,232")
    with pytest.raises(DataError, match=r"Re = 3\.646e\+08 is outside the physical range \[1000, 1e\+06\]"):
        read_digitised(path)


def test_the_shipped_series_match_the_shared_copy(repo):
    series = taslim_series()
    assert len(series) == 7
    assert sum(len(s) for s in series.values()) == 43
    s = series["fig5_ar_0.5_open_squares_eDh_0.250"]
    assert (s.groups["AR"][0], s.groups["e_Dh"][0]) == (0.5, 0.25)
    shared = repo.parent / "shared/data/heat_transfer/taslim_spring1987"
    if shared.is_dir():
        for f in shared.glob("*.csv"):
            assert (
                f.read_bytes()
                == (repo / "data_recipes/heat_transfer/taslim_spring1987" / f.name).read_bytes()
            )


def test_a_european_or_unicode_spreadsheet_reads_as_the_plain_file_and_other_encodings_are_named(tmp_path):
    """Excel in a decimal-comma locale writes ``36460;0,7;232,4``; its "Unicode Text" is UTF-16;
    a Windows code page (a degree sign in a unit) is not UTF-8 and is refused in one line."""
    plain = "Re,Pr,Nu\n36460,0.7,232.4\n51858,0.7,276.7\n"
    (tmp_path / "plain.csv").write_text(plain)
    (tmp_path / "eu.csv").write_text("Re;Pr;Nu\n36460;0,7;232,4\n51858;0,7;276,7\n")
    (tmp_path / "u16.csv").write_bytes(plain.encode("utf-16"))
    ref = read_points(tmp_path / "plain.csv")
    for name in ("eu.csv", "u16.csv"):
        read = read_points(tmp_path / name)
        assert (read.re.tolist(), read.pr.tolist(), read.nu.tolist()) == (
            ref.re.tolist(),
            ref.pr.tolist(),
            ref.nu.tolist(),
        )
    (tmp_path / "cp1252.csv").write_bytes(b"Re,Pr,Nu,T [\xb0C]\n36460,0.7,232.4,20\n")
    with pytest.raises(DataError) as refused:
        read_points(tmp_path / "cp1252.csv")
    assert (
        str(refused.value)
        == f"{tmp_path / 'cp1252.csv'}: not UTF-8 text (byte 0xb0 at offset 12); save it as CSV UTF-8"
    )


def test_a_gzip_csv_reads_as_the_plain_file_and_a_directory_is_named_as_such(tmp_path):
    """As the sequence readers take ``.gz``; a folder is no "file not found"."""
    import gzip

    plain = "Re,Pr,Nu\n36460,0.7,232.4\n51858,0.7,276.7\n"
    (tmp_path / "plain.csv").write_text(plain)
    (tmp_path / "points.csv.gz").write_bytes(gzip.compress(plain.encode()))
    ref, read = read_points(tmp_path / "plain.csv"), read_points(tmp_path / "points.csv.gz")
    assert (read.re.tolist(), read.pr.tolist(), read.nu.tolist()) == (
        ref.re.tolist(),
        ref.pr.tolist(),
        ref.nu.tolist(),
    )
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(plain.encode() * 50)[:40])
    with pytest.raises(DataError) as refused:
        read_points(tmp_path / "cut.csv.gz")
    assert str(refused.value) == (
        f"{tmp_path / 'cut.csv.gz'}: gzip file cut short or damaged (Compressed file ended before the "
        "end-of-stream marker was reached); expected a whole .gz file (fetch or copy it again)"
    )
    with pytest.raises(DataError) as refused:
        read_points(tmp_path)
    assert (
        str(refused.value)
        == f"{tmp_path}: a directory, not a file (expected a CSV file with Re, Pr, Nu columns)"
    )


def test_a_thousands_separator_in_a_decimal_comma_file_is_refused_as_ambiguous(write_csv):
    """A German spreadsheet writes ten thousand as ``10.000``, which read as 10 without a word."""
    path = write_csv("de.csv", "Re;Pr;Nu", "10.000;0,7;40,2")
    assert refusal(path) == (
        f"{path}, line 2: Re = '10.000' is ambiguous in a file with decimal commas (a thousands "
        "separator or a decimal point); expected no thousands separators: write 10000, or 10 if the "
        "dot is a decimal point"
    )
    path = write_csv("de2.csv", "Re;Pr;Nu", "", "20000;1.500;70,1")
    assert refusal(path) == (
        f"{path}, line 3: Pr = '1.500' is ambiguous in a file with decimal commas (a thousands "
        "separator or a decimal point); expected no thousands separators: write 1500, or 1,5 if the "
        "dot is a decimal point"
    )
    # no thousands reading: a leading 0, a dot before fewer digits
    pts = read_points(write_csv("ok.csv", "Re;Pr;Nu;e_Dh", "10000;0.700;40,2;0,5", "20000;0,7;70.15;0,1"))
    assert (pts.re.tolist(), pts.pr.tolist(), pts.nu.tolist()) == ([1e4, 2e4], [0.7, 0.7], [40.2, 70.15])
    assert pts.groups["e_Dh"].tolist() == [0.5, 0.1]
    # a decimal comma with three digits, where no number has a decimal point
    pts = read_points(write_csv("ok2.csv", "Re;Pr;Nu;e_Dh", "10000;0,7;40,2;1,234", "20000;0,7;70,15;0,1"))
    assert pts.groups["e_Dh"].tolist() == [1.234, 0.1]


@pytest.mark.parametrize(
    "name, lines",
    [
        # semicolons with decimal points: 27,820 was read as 27.82 (Re 1000 times too small)
        ("semi.csv", ["Re;Pr;Nu", "27,820;0.71;85.3", "40000;0.71;110.2"]),
        # tabs, where one comma cell of a label column (runs 1,2) made every comma decimal
        ("tabs.csv", ["Re\tPr\tNu\truns", "27,820\t0.71\t85.3\t1,2", "40000\t0.71\t110.2\t3,4"]),
    ],
)
def test_a_comma_thousands_separator_beside_decimal_points_is_refused_as_ambiguous(write_csv, name, lines):
    path = write_csv(name, *lines)
    assert refusal(path) == (
        f"{path}, line 2: Re = '27,820' is ambiguous: the file's other numbers have decimal points, so "
        "the comma may separate thousands; expected one decimal separator: write 27820, or 27.820 if the "
        "comma is a decimal comma"
    )


def test_a_ratio_column_with_holes_is_refused_and_one_of_numbers_and_text_is_named(write_csv, capsys):
    """Half its cells blank, e_Dh counted as a label column and left the law without a word."""
    path = write_csv(
        "holes.csv",
        "Re,Pr,Nu,e_Dh",
        "20000,0.7,60,0.05",
        "40000,0.7,150,0.2",
        "60000,0.7,125,",
        "80000,0.7,280,n/a",
    )
    assert refusal(path) == (
        f"{path}, line 4: e_Dh = '' is missing, in a column of numbers (a geometric ratio needs a number "
        "in every row: fill it in, or name the ratios with --groups)"
    )
    mixed = write_csv(
        "smooth.csv",
        "Re,Pr,Nu,e_Dh",
        "20000,0.7,60,0.1",
        "40000,0.7,150,0.1",
        "60000,0.7,125,smooth",
        "80000,0.7,280,smooth",
    )
    pts = read_points(mixed)
    assert pts.groups == {} and pts.labels["e_Dh"] == ["0.1", "0.1", "smooth", "smooth"]
    assert capsys.readouterr().err == (
        f"warning: {mixed}: column 'e_Dh' holds numbers in 2 of 4 rows and is blank or text in the others ('smooth' at "
        "line 4): kept as a label, not read as a geometric ratio (name the ratios with --groups to say which)\n"
    )


def test_the_columns_sciPT_writes_are_labels_not_geometric_ratios(write_csv):
    """``scipt evaluate``'s predictions.csv fed back as points: Nu_pred taken as a ratio let the
    law fit Nu with its own prediction (and the plot overflowed)."""
    path = write_csv(
        "predictions.csv",
        "Re,Pr,Nu,e_Dh,Nu_pred,Nu_median,Nu_lo_0.9,Nu_hi_0.9,in_calibration_range",
        "20000,0.7,190,0.1,188.5,188.4,170.2,208.8,1",
        "35000,0.7,270,0.2,272.3,272.1,245.9,301.5,1",
    )
    pts = read_points(path)
    assert list(pts.groups) == ["e_Dh"]
    assert pts.labels == {
        "Nu_pred": ["188.5", "272.3"],
        "Nu_median": ["188.4", "272.1"],
        "Nu_lo_0.9": ["170.2", "245.9"],
        "Nu_hi_0.9": ["208.8", "301.5"],
        "in_calibration_range": ["1", "1"],
    }


def test_a_ratio_that_is_a_product_of_powers_of_the_others_is_refused(write_csv):
    """``log AR = log Re - log 1e4`` but for ``delta = 1e-3`` at the middle point. Regressed on
    ``1, log Re`` (Pr is constant) over ``log Re = t ln 10 + const``, ``t = -1, 0, 1``, that leaves
    the part of ``delta e_2`` along ``(1, -2, 1) / sqrt 6``: a residual of norm ``2 delta / sqrt 6
    = 8.165e-4``; the spread of log AR is ``sqrt(2 ln^2 10 + 2 delta^2 / 3) = 3.2563``; their ratio
    ``2.507e-4`` prints as 0.0003."""
    from sciPT.domains.surrogates.independence import check_independent

    delta = 1e-3
    path = write_csv(
        "ar.csv",
        "Re,Pr,Nu,AR",
        "1e4,0.7,40,1",
        f"1e5,0.7,250,{float(10 * np.exp(delta))!r}",
        "1e6,0.7,1600,100",
    )
    pts = read_points(path)
    with pytest.raises(DataError) as err:
        check_independent(pts, ["AR"])
    assert str(err.value) == (
        f"{path}: column 'AR' is (nearly) a constant times a product of powers of Re over the 3 points "
        "(what they leave of its log is 0.0003 of its spread), so the law cannot tell its exponent from "
        "theirs; expected a geometric ratio that varies on its own (leave it out: name the ratios with "
        "--groups, or --groups none for none)"
    )
    # Pe = Re Pr to 5 significant digits, after a ratio that varies on its own: Pe is named
    path = write_csv(
        "pe.csv",
        "Re,Pr,Nu,e_Dh,Pe",
        "10000,0.7,32,0.1,7000",
        "15849,2,71,0.2,31698",
        "25119,5,146,0.1,125600",
        "39811,0.7,92,0.3,27868",
        "63096,3,254,0.2,189290",
    )
    with pytest.raises(DataError) as err:
        check_independent(read_points(path), ["e_Dh", "Pe"])
    assert str(err.value).startswith(
        f"{path}: column 'Pe' is (nearly) a constant times a product of powers of Re, Pr and e_Dh over "
        "the 5 points"
    )
    # with as many points as the features before it, any column is their combination: that is a
    # few-point calibration (scratch holds the exponent, the prior gives it), not a redundant ratio
    check_independent(
        read_points(write_csv("two.csv", "Re,Pr,Nu,AR", "1e4,0.7,40,1", "1e5,0.7,250,3")), ["AR"]
    )


def test_excel_unicode_text_with_decimal_commas_reads_as_the_plain_file(tmp_path):
    """Excel's "Unicode Text" in a decimal-comma locale: UTF-16, tabs, ``27820,9``; the README says
    Excel's files are read. A tab file whose only commas are thousands separators is not
    misread as decimals."""
    (tmp_path / "u16de.csv").write_bytes(
        "Re\tPr\tNu\n27820,9\t0,7\t258,78\n36663,8\t0,7\t301,53\n".encode("utf-16")
    )
    pts = read_points(tmp_path / "u16de.csv")
    assert (pts.re.tolist(), pts.pr.tolist(), pts.nu.tolist()) == (
        [27820.9, 36663.8],
        [0.7, 0.7],
        [258.78, 301.53],
    )
    (tmp_path / "en.csv").write_text("Re\tPr\tNu\n27,820\t1\t258\n")
    assert refusal(tmp_path / "en.csv") == f"{tmp_path / 'en.csv'}, line 2: Re = '27,820' is not a number"


def test_a_decimal_comma_in_a_comma_separated_file_is_named_as_the_likely_cause(write_csv):
    path = write_csv("dec.csv", "Re,Pr,Nu", "27820,9,0,7,258,78")
    assert refusal(path) == (
        f"{path}, line 2: 6 fields, expected 3 as in the header (a decimal comma, as in 0,7, splits a "
        "number in two where commas separate the fields: write decimal points, or separate the fields "
        "with semicolons)"
    )


@pytest.mark.parametrize("header, delimiter", [('"Re, Pr, Nu"', ","), ('"Re;Pr;Nu"', ";")])
def test_a_header_saved_as_one_quoted_field_is_named_as_such(write_csv, header, delimiter):
    """Not "missing column 'Re' ... found: Re, Pr, Nu", which contradicts itself."""
    path = write_csv("q.csv", header, delimiter.join(["27820.9", "0.7", "258.78"]))
    assert refusal(path) == (
        f"{path}: the header is one quoted field, {header.strip(chr(34))!r}, that holds the delimiter "
        f"{delimiter!r}; expected one field per column (remove the quotes around it)"
    )


def test_rows_identical_in_every_column_are_found_and_replicates_are_not(write_csv):
    from sciPT.domains.surrogates.data import repeated_rows

    path = write_csv(
        "dup.csv",
        "Re,Pr,Nu,run",
        "27820.9,0.7,258.78,a",
        "27820.9,0.7,258.78,a",
        "36663.8,0.7,301.53,a",
        "27820.9,0.7,258.78,a",
        "36663.8,0.7,305.1,a",  # a replicate: same conditions, its own Nu
        "36663.8,0.7,301.53,b",  # another run's label: not a copy
    )
    assert repeated_rows(read_points(path)) == [[2, 3, 5]]


def test_a_label_column_may_carry_a_unit_and_keeps_it(write_csv, tmp_path, capsys):
    """predict reads only the model's columns and copies the others: a lab sheet's 'T_wall [K]'
    refused the whole file, as though it were to be read as a ratio."""
    from sciPT.domains.surrogates.data import write_points

    path = write_csv(
        "lab.csv", "Re,Pr,e_Dh,T_wall [K],Notes (optional)", "30000,0.7,0.1,300,first", "50000,0.7,0.2,310,"
    )
    pts = read_points(path, groups=["e_Dh"], require_nu=False)
    assert pts.labels == {"T_wall [K]": ["300", "310"], "Notes (optional)": ["first", ""]}
    write_points(tmp_path / "out.csv", pts)
    assert (tmp_path / "out.csv").read_text().splitlines()[0] == "Re,Pr,e_Dh,T_wall [K],Notes (optional)"
    # ratios inferred: a column with a unit is no ratio, kept as a label and said; named as a ratio, refused
    lab2 = write_csv("lab2.csv", "Re,Pr,Nu,T_wall [K]", "30000,0.7,80,300", "50000,0.7,120,310")
    capsys.readouterr()
    assert read_points(lab2).labels == {"T_wall [K]": ["300", "310"]}
    assert capsys.readouterr().err == (
        f"warning: {lab2}: column 'T_wall [K]' has unit 'K': kept as a label, not read as a geometric "
        "ratio (a ratio is dimensionless)\n"
    )
    with pytest.raises(
        DataError, match=r"column 'T_wall \[K\]' has unit 'K', but T_wall must be a dimensionless"
    ):
        read_points(lab2, groups=["T_wall"])


def test_a_notes_column_of_blanks_text_and_a_number_stays_a_label(write_csv, capsys):
    """The rule for ratios with holes refused a free-text column that held one number."""
    path = write_csv(
        "n.csv",
        "Re,Pr,Nu,notes,series",
        "36460,0.7,232.4,,1",
        "51858,0.7,276.7,repeat of line 2,",
        "60000,0.7,300.1,2,",
        "70000,0.7,333.9,bad TC,2",
        "80000,0.7,350.0,,",
    )
    pts = read_points(path)
    assert pts.groups == {} and pts.labels == {
        "notes": ["", "repeat of line 2", "2", "bad TC", ""],
        "series": ["1", "", "", "2", ""],
    }
    assert capsys.readouterr().err.splitlines() == [
        f"warning: {path}: column 'notes' holds numbers in 1 of 5 rows and is blank or text in the others "
        "('' at line 2): kept as a label, not read as a geometric ratio (name the ratios with --groups to say "
        "which)",
        f"warning: {path}: column 'series' holds numbers in 2 of 5 rows and is blank in the others ('' at "
        "line 3): kept as a label, not read as a geometric ratio (name the ratios with --groups to say which)",
    ]


def test_points_to_predict_keep_a_nu_column_of_n_a_or_zero_as_a_label(write_csv):
    path = write_csv("p.csv", "Re,Pr,Nu,e_Dh", "30000,0.7,n/a,0.1", "50000,0.7,0,0.2", "60000,0.7,130,0.2")
    pts = read_points(path, groups=["e_Dh"], require_nu=False)
    assert pts.nu is None and pts.labels == {"Nu": ["n/a", "0", "130"]}
    with pytest.raises(DataError, match="line 2: Nu = 'n/a' is not a number"):
        read_points(path, groups=["e_Dh"])  # evaluate reads it: refused as before


def test_points_to_predict_with_nu_all_zero_keep_it_as_a_label_not_a_refusal(write_csv):
    """A template whose Nu column was filled with 0 (no value yet) must predict, not stop at line 2."""
    path = write_csv("p.csv", "Re,Pr,Nu", "30000,0.7,0", "50000,0.7,0")
    pts = read_points(path, require_nu=False, groups=[])
    assert pts.nu is None and pts.labels == {"Nu": ["0", "0"]}
    assert pts.re.tolist() == [30000, 50000]


def test_a_tab_separated_file_with_a_semicolon_in_a_label_name_is_split_at_the_tabs(write_csv):
    """Excel's tab-separated export of a sheet whose note column is named "rig; run" must still read."""
    path = write_csv("p.tsv", "Re\tPr\tNu\trig; run", "20000\t0.7\t190\ta; 1", "50000\t0.7\t300\tb; 2")
    pts = read_points(path)
    assert pts.re.tolist() == [20000, 50000] and pts.nu.tolist() == [190, 300]
    assert pts.labels == {"rig; run": ["a; 1", "b; 2"]}


def test_a_quoted_cell_over_two_lines_leaves_the_line_numbers_of_the_file(write_csv):
    path = write_csv(
        "note.csv", "Re,Pr,Nu,note", '30000,0.7,80,"first line', 'second line"', "", "50000,0.7,-3,y"
    )
    with pytest.raises(DataError) as err:
        read_points(path)
    assert str(err.value).startswith(f"{path}, line 5: Nu = -3 is not a positive number")  # line 4 before
    # and the cell keeps its line break (the words ran together)
    fine = write_csv(
        "note2.csv", "Re,Pr,Nu,note", '30000,0.7,80,"first line', 'second line"', "50000,0.7,90,y"
    )
    assert read_points(fine).labels["note"] == ["first line\nsecond line", "y"]


def test_trailing_separators_are_dropped_and_a_ratio_named_after_nu_is_a_label(write_csv, capsys):
    """Excel's trailing separator was refused as a column without a name, or, on the data rows
    alone, as too many fields with the hint of a decimal comma; Nu/Nu0 was read as a ratio, the
    law then fitting Nu with Nu."""
    for lines in (
        ["Re,Pr,Nu,", "27820.9,0.7,85.3,", "40000,0.7,110.2,"],
        ["Re,Pr,Nu", "27820.9,0.7,85.3,", "40000,0.7,110.2"],
    ):
        pts = read_points(write_csv("t.csv", *lines))
        assert pts.re.tolist() == [27820.9, 40000.0] and pts.groups == {} and pts.labels == {}
    path = write_csv("enh.csv", "Re,Pr,Nu,Nu/Nu0,e_Dh", "20000,0.7,60,1.5,0.1", "40000,0.7,150,2.1,0.2")
    pts = read_points(path)
    assert list(pts.groups) == ["e_Dh"] and pts.labels == {"Nu/Nu0": ["1.5", "2.1"]}
    assert capsys.readouterr().err == (
        f"warning: {path}: column 'Nu/Nu0' is named after Nu (computed from it?): kept as a label, not read "
        "as a geometric ratio (name the ratios with --groups to read it)\n"
    )


def test_a_column_computed_from_nu_is_kept_as_a_label_not_a_ratio(tmp_path, capsys):
    """A heat-transfer coefficient h = Nu k / D beside Nu (k from a property line in Pr): read as a
    ratio, the law fitted Nu with h^0.89 (held-out error 0) and predict needed h. A ratio measured
    on its own, with an effect on Nu of its own, stays a ratio."""
    rng = np.random.default_rng(1)
    re, pr = np.geomspace(1e4, 1e5, 12), rng.uniform(3, 7, 12)
    nu = 0.023 * re**0.8 * pr**0.4 * np.exp(rng.normal(0, 0.03, 12))
    e_dh = rng.uniform(0.02, 0.1, 12)
    rough = nu * (e_dh / 0.05) ** 0.3
    h = rough * (0.6 + 0.002 * (pr - 5)) / 0.02
    path = tmp_path / "lab.csv"
    rows = zip(re, pr, rough, h, e_dh)
    path.write_text(
        "Re,Pr,Nu,h,e_Dh\n" + "".join(f"{a:.5g},{b:.4g},{c:.5g},{d:.5g},{e:.4g}\n" for a, b, c, d, e in rows)
    )
    points = read_points(path)
    assert list(points.groups) == ["e_Dh"]
    assert capsys.readouterr().err == (
        f"warning: {path}: column 'h' follows Nu over the 12 points as nothing measured on its own would "
        "(computed from Nu? a heat-transfer coefficient, say): kept as a label, not read as a geometric "
        "ratio (name the ratios with --groups to read it)\n"
    )
    assert read_points(path, groups=["h", "e_Dh"]).groups.keys() == {"h", "e_Dh"}


def test_a_precise_ratio_with_an_exponent_near_one_stays_a_ratio(tmp_path, capsys):
    """A ratio that enters the law as A^0.9, measured to 0.5 %: its log moves with log Nu almost
    perfectly (0.9 per unit), and a band of 0.8-1.25 on that slope took it for a column computed
    from Nu and dropped it from the law (predictions 85 % off where it varies). A column computed
    from Nu moves one for one (slope corr^2 >= 0.998)."""
    rng = np.random.default_rng(0)
    re, pr, area = np.geomspace(1e4, 1e5, 12), rng.uniform(0.7, 7, 12), rng.uniform(1.5, 4, 12)
    nu = 0.023 * re**0.8 * pr**0.4 * area**0.9 * np.exp(0.005 * rng.standard_normal(12))
    path = tmp_path / "sweep.csv"
    path.write_text(
        "Re,Pr,Nu,A_ratio\n"
        + "".join(f"{a:.6g},{b:.6g},{c:.6g},{d:.6g}\n" for a, b, c, d in zip(re, pr, nu, area))
    )
    assert list(read_points(path).groups) == ["A_ratio"]
    assert capsys.readouterr().err == ""


def test_a_heat_transfer_coefficient_typed_to_three_digits_is_kept_as_a_label(tmp_path, capsys):
    """h = Nu k / D typed to 3 digits beside Nu of 5 % scatter: beyond Re and Pr, h / Nu varies
    only by h's rounding (rms 0.1 %), where a measured ratio varies by the scatter. A slope band on
    log Nu against log h (0.978 here) missed it."""
    rng = np.random.default_rng(29)
    re, pr = np.geomspace(1e4, 1e5, 12), np.array([float(f"{v:.4g}") for v in rng.uniform(3, 7, 12)])
    nu = np.array([float(f"{v:.5g}") for v in 0.023 * re**0.8 * pr**0.4 * np.exp(rng.normal(0, 0.05, 12))])
    h = nu * (0.6 + 0.002 * (pr - 5)) / 0.02
    path = tmp_path / "table.csv"
    path.write_text(
        "Re,Pr,Nu,h\n" + "".join(f"{a:.6g},{b:.4g},{c:.5g},{d:.3g}\n" for a, b, c, d in zip(re, pr, nu, h))
    )
    assert list(read_points(path).groups) == []
    assert "column 'h' follows Nu over the 12 points" in capsys.readouterr().err


def test_a_product_of_re_and_pr_beside_exact_points_is_refused_as_such_not_taken_for_nu(tmp_path, capsys):
    """Pe = Re Pr beside points computed from a power law (no scatter): Nu and Pe are both what
    Re and Pr explain, so Pe / Nu is too; it is refused as a product of Re and Pr, as with measured
    points, not kept as a label "computed from Nu"."""
    from sciPT.domains.surrogates.independence import check_independent

    re, pr = np.geomspace(1e4, 1e5, 8), np.array([0.7, 3, 7, 1, 5, 2, 6, 4.0])
    nu = 0.023 * re**0.8 * pr**0.4
    path = tmp_path / "exact.csv"
    path.write_text(
        "Re,Pr,Nu,Pe\n" + "".join(f"{a:.6g},{b:.4g},{c:.6g},{a * b:.6g}\n" for a, b, c in zip(re, pr, nu))
    )
    points = read_points(path)
    assert list(points.groups) == ["Pe"] and capsys.readouterr().err == ""
    with pytest.raises(
        DataError, match="column 'Pe' is \\(nearly\\) a constant times a product of powers of Re and Pr"
    ):
        check_independent(points, ["Pe"])


@pytest.mark.parametrize(
    "row, message",
    [
        (
            "0.5,0.7,50",
            "Re = 0.5 is outside the physical range [1, 1e+09] of Re (is the column scaled, e.g. Re x 1e-4?)",
        ),
        ("2e9,0.7,50", "Re = 2e+09 is outside the physical range [1, 1e+09] of Re"),
        (
            "2e4,5e-4,50",
            "Pr = 0.0005 is outside the physical range [0.001, 100000] of Pr (is the column scaled, "
            "e.g. Re x 1e-4?)",
        ),
        (
            "2e4,0.7,0.005",
            "Nu = 0.005 is outside the physical range [0.01, 100000] of Nu (is the column scaled, "
            "e.g. Re x 1e-4?)",
        ),
    ],
)
def test_a_value_outside_its_physical_range_is_refused_with_the_range(write_csv, row, message):
    """The ranges are those the module documents (Re 1-1e9, Pr 1e-3-1e5, Nu 1e-2-1e5), the
    scaling hint only below a range: a value above it is not a scaled axis."""
    path = write_csv("range.csv", "Re,Pr,Nu", row)
    assert refusal(path) == f"{path}, line 2: {message}"


def test_values_at_the_ends_of_the_ranges_creeping_flow_and_liquid_metals_are_read(write_csv):
    """The ranges are closed, and a liquid metal (sodium, Pr 0.004) or a creeping flow (Re 5) is
    physical: refusing them refused real measurements."""
    rows = ["1,1e-3,0.01", "1e9,1e5,1e5", "5e4,0.004,8.5", "5,0.7,1.2"]
    pts = read_points(write_csv("ends.csv", "Re,Pr,Nu", *rows))
    assert pts.re.tolist() == [1, 1e9, 5e4, 5]
    assert pts.pr.tolist() == [1e-3, 1e5, 0.004, 0.7]
    assert pts.nu.tolist() == [0.01, 1e5, 8.5, 1.2]


def test_a_ratio_outside_its_range_is_refused_saying_why_it_was_read_only_when_inferred(write_csv):
    """A relative roughness of 1e-5 (drawn tubing) is a ratio; 1e-7 is outside [1e-6, 1e6]. When the
    ratio was inferred (every numeric column is), the message says so, since a run number or a
    temperature is all numbers too; a ratio the user named needs no such note."""
    pts = read_points(write_csv("fine.csv", "Re,Pr,Nu,e_D", "2e4,0.7,190,1e-5"))
    assert pts.groups["e_D"].tolist() == [1e-5]
    path = write_csv("tiny.csv", "Re,Pr,Nu,e_D", "2e4,0.7,190,1e-7")
    plain = (
        f"{path}, line 2: e_D = 1e-07 is outside the physical range [1e-06, 1e+06] of e_D (is the "
        "column scaled, e.g. Re x 1e-4?)"
    )
    with pytest.raises(DataError) as err:
        read_points(path, groups=["e_D"])
    assert str(err.value) == plain
    assert refusal(path) == (
        f"{plain} (e_D was taken as a geometric ratio, as every numeric column besides Re, Pr and Nu "
        "is: name the ratios with --groups, or --groups none for none)"
    )


def test_dimensionless_units_are_read_whatever_their_case(write_csv, capsys):
    """``[Dimensionless]``, ``[NONE]``: a unit that says dimensionless in any case is one, for Re,
    Pr, Nu and a ratio alike (a ratio so labelled was dropped to a label without need)."""
    header = "Re [Dimensionless],Pr [NONE],Nu [dimensionless],e_Dh [Dimensionless]"
    pts = read_points(write_csv("units.csv", header, "2e4,0.7,190,0.1"))
    assert (pts.re.tolist(), pts.pr.tolist(), pts.nu.tolist()) == ([2e4], [0.7], [190])
    assert pts.groups["e_Dh"].tolist() == [0.1] and pts.labels == {}
    assert capsys.readouterr().err == ""


def test_a_digitised_x_y_file_given_as_points_is_pointed_to_read_digitised(write_csv):
    """A digitised figure has columns x, y and scaled axes: the message says which reader takes it."""
    path = write_csv("fig.csv", "x,y", "3.6,0.23")
    assert refusal(path) == (
        f"{path}: missing column 'Re' (expected Re, Pr, Nu and optional geometric ratios; found: x, y) "
        "(digitised x,y files: use read_digitised with their axis scaling)"
    )


def test_digitised_points_keep_the_line_numbers_of_the_file_once_sorted(write_csv):
    """Sorted by x, each point keeps the line it is on (the header is line 1), so a refusal names
    the line to fix, not the rank after sorting."""
    pts = read_digitised(write_csv("fig.csv", "x,y", "5,0.3", "3,0.2"))
    assert pts.re.tolist() == [3e4, 5e4] and pts.lines.tolist() == [3, 2]
    path = write_csv("bad.csv", "x,y", "3,0.2", "0.00001,0.2")
    with pytest.raises(DataError) as err:
        read_digitised(path)
    assert str(err.value) == (
        f"{path}, line 3: Re = 0.1 is outside the physical range [1000, 1e+06] of Re (is the column "
        "scaled, e.g. Re x 1e-4?)"
    )


def test_features_name_the_first_ratio_the_points_lack(write_csv):
    """A model of e_Dh and AR on points with neither: the message names e_Dh, the first in the law."""
    path = write_csv("p.csv", "Re,Pr,Nu", "2e4,0.7,190")
    with pytest.raises(DataError) as err:
        read_points(path).features(["e_Dh", "AR"])
    assert str(err.value) == f"{path}: missing column 'e_Dh' (the model uses the geometric ratios e_Dh, AR)"


def _points_with_ratio_off_nu_by(tmp_path, n, rms):
    """``n`` points of Nu with 5 % scatter and a column ``h = 20 Nu exp(e)``, ``e`` orthogonal to
    ``1, log Re, log Pr`` with ``sqrt(e.e / (n - 3)) = rms``."""
    rng = np.random.default_rng(4)
    re, pr = np.geomspace(1e4, 1e5, n), rng.uniform(0.7, 7, n)
    nu = 0.023 * re**0.8 * pr**0.4 * np.exp(rng.normal(0, 0.05, n))
    base = np.column_stack([np.ones(n), np.log(re), np.log(pr)])
    e = rng.standard_normal(n)
    e -= base @ np.linalg.lstsq(base, e, rcond=None)[0]
    e *= rms / np.sqrt(e @ e / (n - 3)) if rms else 0.0
    h = 20 * nu * np.exp(e)
    path = tmp_path / f"h_{n}_{rms}.csv"
    path.write_text(
        "Re,Pr,Nu,h\n"
        + "".join(f"{a:.17g},{b:.17g},{c:.17g},{d:.17g}\n" for a, b, c, d in zip(re, pr, nu, h))
    )
    return path


@pytest.mark.parametrize("rms, follows", [(0.006, False), (0.004, True)])
def test_a_column_follows_nu_by_its_rms_over_n_minus_3_degrees_of_freedom(tmp_path, capsys, rms, follows):
    """What 1, log Re, log Pr leave of log(h / Nu) is measured over n - 3 degrees of freedom (three
    fitted): over n it came out sqrt(7/4) too small at 7 points, and a ratio off Nu by 0.6 % (over
    the 0.5 % threshold) was dropped from the law as computed from Nu."""
    path = _points_with_ratio_off_nu_by(tmp_path, 7, rms)
    assert list(read_points(path).groups) == ([] if follows else ["h"])
    assert ("column 'h' follows Nu over the 7 points" in capsys.readouterr().err) == follows


def test_six_points_are_too_few_to_call_a_column_computed_from_nu(tmp_path, capsys):
    """Under seven points (three degrees of freedom or fewer) a measured ratio can match Nu by
    chance: even h = 20 Nu exactly stays a ratio there, and is a label from seven points."""
    assert list(read_points(_points_with_ratio_off_nu_by(tmp_path, 6, 0)).groups) == ["h"]
    assert capsys.readouterr().err == ""
    assert list(read_points(_points_with_ratio_off_nu_by(tmp_path, 7, 0)).groups) == []


def test_pre_training_samples_stay_inside_the_correlation_and_the_prandtl_cap():
    """Sieder-Tate holds to Pr 16700, but samples stop at PR_SAMPLING_CAP (100): beyond, a
    pre-training family would be dominated by oils no user's points resemble."""
    from sciPT.domains.surrogates import correlations
    from sciPT.domains.surrogates.correlations import PR_SAMPLING_CAP
    from sciPT.domains.surrogates.data import sample_correlation

    corr = next(c for c in correlations.CORRELATIONS if c.key == "sieder-tate")
    assert corr.pr_range[1] > PR_SAMPLING_CAP == 100
    pts = sample_correlation(corr, 200, 0.0, np.random.default_rng(0))
    assert pts.pr.min() >= corr.pr_range[0] and pts.pr.max() <= 100
    assert pts.re.min() >= corr.re_range[0] and pts.re.max() <= corr.re_range[1]
    assert pts.nu == pytest.approx(corr(pts.re, pts.pr, None), rel=1e-12)  # no noise asked
    assert pts.source == "correlation:sieder-tate"


def test_a_row_copied_once_is_found(write_csv):
    """The usual slip is one row pasted twice: two identical rows are a copy, as three are."""
    from sciPT.domains.surrogates.data import copied_rows_note, repeated_rows

    path = write_csv("dup.csv", "Re,Pr,Nu", "2e4,0.7,190", "3e4,0.7,240", "2e4,0.7,190")
    points = read_points(path)
    assert repeated_rows(points) == [[2, 4]]
    assert copied_rows_note(points, "counted twice") == (
        f"{path}: rows identical in every column at lines 2 = 4 (copied twice?): counted twice"
    )


def test_a_subset_keeps_every_column_of_its_rows(write_csv):
    """A held-out split takes rows of Re, Pr, Nu, the ratios, the labels and the line numbers
    together: a ratio left whole paired the held-out points with other rows' ratios."""
    path = write_csv(
        "p.csv", "Re,Pr,Nu,e_Dh,run", "2e4,0.7,190,0.05,a", "3e4,0.71,240,0.1,b", "4e4,0.72,280,0.2,c"
    )
    part = read_points(path).subset([2, 0])
    assert (part.re.tolist(), part.pr.tolist(), part.nu.tolist()) == ([4e4, 2e4], [0.72, 0.7], [280, 190])
    assert part.groups["e_Dh"].tolist() == [0.2, 0.05]
    assert part.labels == {"run": ["c", "a"]} and part.lines.tolist() == [4, 2]


def test_predicting_a_predictions_file_again_writes_its_nu_pred_once(write_csv, tmp_path):
    """A predictions.csv predicted again has a Nu_pred label and a new Nu_pred: one column, the new
    values in the file's place, not two columns of one name (which a reader then refuses)."""
    from sciPT.domains.surrogates.data import write_points

    path = write_csv("pred.csv", "Re,Pr,Nu_pred,run", "2e4,0.7,188.5,a", "3e4,0.7,230.1,b")
    points = read_points(path, require_nu=False)
    assert points.labels == {"Nu_pred": ["188.5", "230.1"], "run": ["a", "b"]}
    out = tmp_path / "out.csv"
    write_points(out, points, {"Nu_pred": np.array([190.0, 240.0])})
    assert out.read_text().splitlines() == ["Re,Pr,Nu_pred,run", "20000,0.7,190,a", "30000,0.7,240,b"]


def test_a_missing_points_file_is_named_as_such(tmp_path):
    """A mistyped --train path: the message names the file and says it is not there."""
    path = tmp_path / "nope.csv"
    assert refusal(path) == f"{path}: file not found"


def test_pre_training_noise_is_log_normal_so_every_sample_stays_positive():
    """Nu is multiplied by exp(noise z), z ~ N(0, 1), as documented: a factor 1 + noise z made Nu
    negative at large scatter (log Nu then NaN in the pre-training fit)."""
    from sciPT.domains.surrogates import correlations
    from sciPT.domains.surrogates.data import sample_correlation

    corr = next(c for c in correlations.CORRELATIONS if c.key == "dittus-boelter-heating")
    pts = sample_correlation(corr, 4000, 1.0, np.random.default_rng(0))
    assert pts.nu.min() > 0
    z = np.log(pts.nu / corr(pts.re, pts.pr, None))
    assert abs(z.mean()) < 0.05 and z.std() == pytest.approx(1.0, abs=0.05)


def test_a_cell_past_the_csv_reader_s_limit_is_one_line_naming_it(write_csv):
    """A log pasted into a notes cell: the csv module's limit raised its own error, a traceback."""
    path = write_csv("long.csv", "Re,Pr,Nu,note", "30000,0.7,200,ok", "50000,0.7,280," + "x" * 140_000)
    with pytest.raises(DataError) as err:
        read_points(path)
    assert str(err.value) == (
        f"{path}, line 3: a cell longer than 131,072 characters; expected Re, Pr, Nu and short labels"
    )


def test_excel_s_sep_line_names_the_delimiter_and_is_not_the_header(write_csv):
    """Excel writes `sep=;` above the header of a file it should reopen with that delimiter: read as
    a header it named no column (`column 2 of the header has no name`). Lines keep their numbers."""
    plain = read_points(write_csv("plain.csv", "Re,Pr,Nu", "30000,0.7,200", "50000,0.7,280"))
    for name, lines in {
        "semicolons.csv": ("sep=;", "Re;Pr;Nu", "30000;0,7;200", "50000;0,7;280"),
        "commas.csv": ("SEP=,", "Re,Pr,Nu", "30000,0.7,200", "50000,0.7,280"),
    }.items():
        pts = read_points(write_csv(name, *lines))
        assert (pts.re.tolist(), pts.pr.tolist(), pts.nu.tolist()) == (
            plain.re.tolist(),
            plain.pr.tolist(),
            plain.nu.tolist(),
        )
        assert pts.lines.tolist() == [3, 4] and pts.header == ["Re", "Pr", "Nu"]
    with pytest.raises(DataError, match=r"commas\.csv, line 4: Nu = 'x' is not a number"):
        read_points(write_csv("commas.csv", "sep=,", "Re,Pr,Nu", "30000,0.7,200", "50000,0.7,x"))


def test_a_column_of_percentages_or_of_run_numbers_is_a_label_and_said(write_csv, capsys):
    """A ratio typed as 5.3 % was a text column, so a label without a word, and the law lost the
    ratio; a numbered series of runs is all numbers, so it took an exponent as a ratio would."""
    path = write_csv(
        "p.csv",
        "Run No.,Re,Pr,Nu,e_Dh,AR",
        "1,30000,0.7,200,5.3%,1",
        "2,50000,0.7,280,5.3%,2",
        "3,80000,0.7,380,10.7 %,1",
        "4,120000,0.7,480,10.7%,2",
    )
    pts = read_points(path)
    assert list(pts.groups) == ["AR"]
    assert pts.labels == {"Run No.": ["1", "2", "3", "4"], "e_Dh": ["5.3%", "5.3%", "10.7 %", "10.7%"]}
    assert capsys.readouterr().err.splitlines() == [
        f"warning: {path}: column 'Run No.' is named as a run or row number: kept as a label, not read as a "
        "geometric ratio (name the ratios with --groups to read it)",
        f"warning: {path}: column 'e_Dh' holds percentages ('5.3%' at line 2): kept as a label, not read as "
        "a geometric ratio (write the ratio as a fraction, or name the ratios with --groups to be told where)",
    ]
    # named, the run number is read as the user says
    assert list(read_points(path, groups=["Run No."]).groups) == ["Run No."]


def test_an_input_column_a_prediction_replaces_is_said(write_csv, tmp_path, capsys):
    """An earlier Nu_pred in the input is replaced in the output (documented); a user's own column of
    that name loses its values, so the replacement is said."""
    path = write_csv("x.csv", "Re,Pr,Nu_pred,comment", "30000,0.7,3,hello")
    pts = read_points(path, require_nu=False)
    write_points(tmp_path / "y.csv", pts, {"Nu_pred": np.array([268.8])})
    assert (
        capsys.readouterr().err
        == f"note: {path}: its column(s) Nu_pred are replaced by the new ones in the output\n"
    )
    assert (tmp_path / "y.csv").read_text().splitlines() == ["Re,Pr,Nu_pred,comment", "30000,0.7,268.8,hello"]
