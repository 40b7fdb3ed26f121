"""The reader's mixed-table rules (vifit/data/mixed.py): categories coded with sorted levels,
missing cells kept, a row-weight column, each bad case one line naming file, row and column; and
with every new option off the reader is what it was."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SAMPLE, invoke
from vifit.data import ReadOptions, load_table
from vifit.errors import BadInput


def _csv(tmp_path, text: str, name: str = "t.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_categories_get_sorted_levels_and_codes(tmp_path):
    data = _csv(tmp_path, "size,colour,n\n10,red,1\n2,blue,2\n10,,3\n33,green,4\n")
    table = load_table(data, ReadOptions(missing=True, text_as_categorical=True, categorical="size"))
    assert table.columns == ["size", "colour", "n"]
    assert table.levels == {"size": ["2", "10", "33"], "colour": ["blue", "green", "red"]}  # numbers in numeric order
    np.testing.assert_array_equal(table.values[:, 0], [1, 0, 1, 2])
    np.testing.assert_array_equal(table.values[:, 1], [2, 0, np.nan, 1])
    assert table.preprocessing["levels"] == table.levels


def test_given_levels_fix_the_codes_and_an_unseen_label_is_named(tmp_path):
    data = _csv(tmp_path, "colour\nred\nblue\npurple\n")
    opts = ReadOptions(missing=True, levels={"colour": ["blue", "green", "red"]})
    with pytest.raises(BadInput, match=r"t.csv: row 3 \(line 4\), column 'colour': 'purple' is not one of the levels"):
        load_table(data, opts, required_columns=["colour"])
    table = load_table(_csv(tmp_path, "colour\nred\nblue\n"), opts, required_columns=["colour"])
    np.testing.assert_array_equal(table.values[:, 0], [2, 0])


def test_missing_cells_are_kept_but_infinities_are_not(tmp_path):
    table = load_table(_csv(tmp_path, "a,b\n1,\n2,3\n,nan\n"), ReadOptions(missing=True))
    assert np.isnan(table.values).sum() == 3 and table.n_rows == 3
    dropped = load_table(_csv(tmp_path, "a,b\n1,\n2,3\n,nan\n"), ReadOptions(missing=True, dropna=True))
    assert dropped.n_rows == 1 and dropped.rows_dropped == 2
    with pytest.raises(BadInput, match=r"row 2 \(line 3\), column 'b': infinite value"):
        load_table(_csv(tmp_path, "a,b\n1,\n2,inf\n"), ReadOptions(missing=True))


@pytest.mark.parametrize("cell, words", [("-1", "is -1.0"), ("inf", "is inf"), ("", "is empty")])
def test_bad_row_weights_are_named(tmp_path, cell, words):
    data = _csv(tmp_path, f"a,w\n1,1\n2,{cell}\n3,2\n")
    with pytest.raises(BadInput) as caught:
        load_table(data, ReadOptions(row_weights="w"))
    message = str(caught.value)
    assert "t.csv: row 2 (line 3), column 'w'" in message and words in message and "\n" not in message


def test_row_weights_are_pulled_out_checked_and_dropped_with_their_rows(tmp_path):
    data = _csv(tmp_path, "a,b,w\n1,2,1\n2,,3\n3,4,2\n")
    table = load_table(data, ReadOptions(row_weights="w", dropna=True))
    assert table.columns == ["a", "b"]
    np.testing.assert_array_equal(table.weights, [1, 2])
    with pytest.raises(BadInput, match="--row-weights column 'w' is also a feature"):
        load_table(data, ReadOptions(row_weights="3", columns="a,w"))
    with pytest.raises(BadInput, match="is 0 on every row"):
        load_table(_csv(tmp_path, "a,w\n1,0\n2,0\n"), ReadOptions(row_weights="w"))


def test_every_new_option_off_reads_as_before(tmp_path):
    before = load_table(str(SAMPLE / "iris.csv"), ReadOptions())
    after = load_table(str(SAMPLE / "iris.csv"), ReadOptions(missing=True))  # the mixed path, no missing cell
    np.testing.assert_array_equal(before.values, after.values)
    assert before.columns == after.columns and after.levels == {} and after.weights is None


def test_gmm_fits_a_file_with_missing_cells_and_takes_row_weights(tmp_path):
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(6, 1, (60, 2))])
    lines = ["a,b,w"] + [f"{a:.4f},{'' if i % 7 == 0 else f'{b:.4f}'},{1 + i % 3}" for i, (a, b) in enumerate(x)]
    data = _csv(tmp_path, "\n".join(lines) + "\n")
    out = tmp_path / "gmm.json"
    result = invoke(["gmm", data, "-k", "2", "--seed", "0", "--row-weights", "w", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["data"]["n_rows"] == 120 and document["data"]["columns"] == ["a", "b"]
    assert document["config"]["row_weights"] == "w"
    assert document["fit"]["weight_total"] == sum(1 + i % 3 for i in range(120))
    # the streamed SVI fit reads the same blocks (missing cells kept, the weight as a last column)
    streamed = invoke(["gmm", data, "-k", "2", "--method", "svi", "--row-weights", "w", "-q"])
    assert streamed.exit_code == 0, streamed.stderr
    streamed_document = json.loads(streamed.stdout)
    assert streamed_document["data"]["n_rows"] == 120 and streamed_document["data"]["columns"] == ["a", "b"]
    assert streamed_document["fit"]["weight_total"] == document["fit"]["weight_total"]
    plain = invoke(["gmm", str(SAMPLE / "iris.csv"), "-k", "2", "--seed", "0", "-q"])
    assert "row_weights" not in json.loads(plain.stdout)["config"]  # the config of a fit without it is unchanged
