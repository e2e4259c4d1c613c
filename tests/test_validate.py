"""Validation of raw files: every bad input is a DataError naming the file, the column and the rows."""

import logging

import numpy as np
import pandas as pd
import pytest

from behave.data.config import build_source, dataset_spec, prepare_from_config
from behave.data.errors import DataError
from behave.data.event_log import RawTables
from behave.data.ingestion.validate import validate
from behave.data.sources.files import FileSource


def good_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three sequences, two classes, every column valid."""
    events = pd.DataFrame(
        {
            "seq": ["a", "a", "b", "b", "c", "c"],
            "ts": [
                "2024-01-01 10:00:00",
                "2024-01-01 10:05:00",
                "2024-01-02 09:00:00",
                "2024-01-02 09:01:00",
                "2024-01-03 12:00:00",
                "2024-01-03 12:30:00",
            ],
            "event": ["view", "click", "view", "buy", "view", "view"],
            "page": ["home", "product", "home", "cart", "search", "product"],
            "scroll": [100, 200, 300, 400, 500, 600],
        }
    )
    return events, pd.DataFrame({"seq": ["a", "b", "c"], "y": [0, 1, 0]})


def raises(load, events, labels, **sections) -> str:
    with pytest.raises(DataError) as caught:
        load(events, labels, **sections)
    return str(caught.value)


def test_good_tables_validate(load_log):
    log_, drops = load_log(*good_tables())
    assert log_.sequence_ids.tolist() == ["a", "b", "c"]
    assert log_.labels.tolist() == [0, 1, 0]
    assert drops.sequences_without_label == drops.labels_without_events == 0


def test_missing_column_suggests_the_misspelt_one(load_log, tmp_path):
    events, labels = good_tables()
    message = raises(load_log, events.rename(columns={"ts": "tss"}), labels)
    assert str(tmp_path / "events.csv") in message
    assert "'ts' (timestamp) not found" in message
    assert "Did you mean 'tss'?" in message


def test_missing_column_without_close_name_has_no_suggestion(load_log, tmp_path):
    events, labels = good_tables()
    message = raises(load_log, events.drop(columns="scroll"), labels)
    assert str(tmp_path / "events.csv") in message
    assert "'scroll' (numeric field) not found" in message
    assert "Did you mean" not in message


def test_header_only_csv_is_empty(load_log, tmp_path):
    events, labels = good_tables()
    message = raises(load_log, events.iloc[:0], labels)
    assert str(tmp_path / "events.csv") in message
    assert "empty" in message


def test_zero_byte_file_is_empty(tmp_path):
    (tmp_path / "events.csv").write_bytes(b"")
    with pytest.raises(DataError) as caught:
        FileSource(str(tmp_path / "events.csv")).load()
    assert str(tmp_path / "events.csv") in str(caught.value)
    assert "empty" in str(caught.value)


def test_unparseable_timestamp_names_row_and_value(load_log, tmp_path):
    events, labels = good_tables()
    events.loc[3, "ts"] = "yesterday"
    message = raises(load_log, events, labels)
    assert str(tmp_path / "events.csv") in message
    assert "'ts' (timestamp)" in message
    assert "1 row(s): 3 ('yesterday')" in message


def test_iso_timestamps_with_and_without_fraction_or_offset_parse(load_log):
    events, labels = good_tables()
    events["ts"] = [
        "2024-01-01T10:00:00Z",
        "2024-01-01T10:00:00.500Z",
        "2024-01-02T10:00:00+01:00",
        "2024-01-02",
        "2024-01-03 12:00:00",
        "2024-01-03 12:00:01",
    ]
    log_, _ = load_log(events, labels)
    start = pd.Timestamp("2024-01-01", tz="UTC").timestamp()
    assert log_.time.tolist() == [
        start + 36000,
        start + 36000.5,
        start + 86400,
        start + 86400 + 32400,
        start + 2 * 86400 + 43200,
        start + 2 * 86400 + 43201,
    ]


def test_bad_cell_in_unix_timestamps_is_named_alone(load_log, tmp_path):
    events, labels = good_tables()
    events["ts"] = [str(1_700_000_000 + 60 * i) for i in range(6)]
    events.loc[4, "ts"] = "17OO000240"
    message = raises(load_log, events, labels)
    assert str(tmp_path / "events.csv") in message
    assert "'ts' (timestamp) is not a unix time in 1 row(s): 4 ('17OO000240')" in message


def test_int_categories_read_as_floats_keep_their_int_names(load_log):
    events, labels = good_tables()
    events["page"] = [3, 3, 7, None, 7, 3]  # an empty cell makes pandas read the ints as floats
    log_, _ = load_log(events, labels)
    assert log_.categorical["page"].categories.tolist() == ["3", "7"]
    assert (log_.categorical["page"].codes == -1).sum() == 1


def test_mixed_int_and_str_objects_name_one_category(data_config):
    # A source that builds its frame in Python (no file round trip) can hand over 1 and "1" in one column.
    events, labels = good_tables()
    spec = dataset_spec(data_config(events, labels))
    events["page"] = pd.Series([1, "1", "cart", 1, None, "cart"], dtype=object)
    log_, _ = validate(RawTables(events, "frame", labels, "labels"), spec)
    page = log_.categorical["page"]
    assert page.categories.tolist() == ["1", "cart"]
    assert page.astype(object).tolist() == ["1", "1", "cart", "1", np.nan, "cart"]


def test_non_numeric_value_in_numeric_field(load_log, tmp_path):
    events, labels = good_tables()
    events["scroll"] = events["scroll"].astype(object)
    events.loc[[1, 4], "scroll"] = ["lots", "n/a?"]
    message = raises(load_log, events, labels)
    assert str(tmp_path / "events.csv") in message
    assert "'scroll' (numeric field) has non-numeric values" in message
    assert "2 row(s): 1 ('lots'), 4 ('n/a?')" in message


def test_empty_numeric_cell_is_missing_not_an_error(load_log):
    events, labels = good_tables()
    events["scroll"] = events["scroll"].astype(float)
    events.loc[2, "scroll"] = np.nan
    log_, _ = load_log(events, labels)
    assert np.isnan(log_.numeric["scroll"]).sum() == 1


def test_missing_label_value(load_log, tmp_path):
    events, labels = good_tables()
    labels["y"] = labels["y"].astype(float)
    labels.loc[1, "y"] = np.nan
    message = raises(load_log, events, labels)
    assert str(tmp_path / "labels.csv") in message
    assert "1 row(s) have no label (column 'y' is empty): row 2 (data rows counted from 1" in message


@pytest.mark.parametrize(
    ("value", "expected"), [(1, "only one class ('1')"), (0, "positive value '1' never occurs")]
)
def test_label_with_only_one_class(load_log, tmp_path, value, expected):
    events, labels = good_tables()
    labels["y"] = value
    message = raises(load_log, events, labels)
    assert str(tmp_path / "labels.csv") in message
    assert "'y' (label)" in message
    assert expected in message


def test_binary_label_with_three_values(load_log, tmp_path):
    events, labels = good_tables()
    labels["y"] = [0, 1, 2]
    message = raises(load_log, events, labels)
    assert str(tmp_path / "labels.csv") in message
    assert "'y' (label) is binary but has 3 values" in message
    assert "'2'" in message


def test_label_outside_configured_classes(load_log, tmp_path):
    events, labels = good_tables()
    labels["y"] = ["low", "high", "medium"]
    message = raises(
        load_log, events, labels, label={"kind": "multiclass", "positive": None, "classes": ["low", "high"]}
    )
    assert str(tmp_path / "labels.csv") in message
    assert "'y' (label) has unknown values ['medium']" in message


def test_label_in_events_must_be_constant_within_a_sequence(load_log, tmp_path):
    events, _ = good_tables()
    events["y"] = [0, 0, 1, 0, 1, 1]  # sequence 'b' changes its label
    message = raises(load_log, events, None, label={"table": "events"})
    assert str(tmp_path / "events.csv") in message
    assert "'y' (label) must be constant within a sequence" in message
    assert "['b']" in message


def test_label_in_events_table(load_log):
    events, _ = good_tables()
    events["y"] = [0, 0, 1, 1, 1, 1]
    log_, _ = load_log(events, None, label={"table": "events"})
    assert log_.labels.tolist() == [0, 1, 1]


def test_unmatched_sequences_and_labels_are_dropped_with_warning(load_log, caplog):
    events, labels = good_tables()
    extra_events = pd.DataFrame(
        {"seq": ["d"], "ts": ["2024-01-04 08:00:00"], "event": ["view"], "page": ["home"], "scroll": [1]}
    )
    labels = pd.concat([labels, pd.DataFrame({"seq": ["x", "y"], "y": [1, 0]})], ignore_index=True)
    with caplog.at_level(logging.WARNING, logger="behave.data.ingestion.validate"):
        log_, drops = load_log(pd.concat([events, extra_events], ignore_index=True), labels)
    assert (drops.sequences_without_label, drops.labels_without_events) == (1, 2)
    assert log_.sequence_ids.tolist() == ["a", "b", "c"]
    assert log_.n_events == len(events)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("1 sequence(s) that have events but no label" in w for w in warnings)
    assert any("2 label(s) whose sequence has no events" in w for w in warnings)


def test_no_overlap_between_events_and_labels_is_an_error(load_log, tmp_path):
    events, labels = good_tables()
    labels["seq"] = ["p", "q", "r"]
    message = raises(load_log, events, labels)
    assert str(tmp_path / "events.csv") in message
    assert "no sequence has a label" in message
    assert "'seq'" in message


def test_prepare_from_config_raises_only_a_data_error(data_config, tmp_path):
    events, labels = good_tables()
    events["scroll"] = events["scroll"].astype(object)
    events.loc[5, "scroll"] = "12px"
    with pytest.raises(DataError) as caught:
        prepare_from_config(data_config(events, labels))
    assert caught.type is DataError
    assert caught.value.__cause__ is None and caught.value.__context__ is None  # no pandas traceback attached
    assert str(tmp_path / "events.csv") in str(caught.value)
    assert "5 ('12px')" in str(caught.value)
    assert not any((tmp_path / "cache").glob("*")), "a failed build must not leave a cache folder"


def test_unknown_config_key_is_a_data_error(data_config):
    events, labels = good_tables()
    config = data_config(events, labels, schema={"timestmap": "ts"})
    with pytest.raises(DataError, match="timestmap"):
        prepare_from_config(config)


def test_unreadable_csv_is_a_data_error(data_config, tmp_path):
    events, labels = good_tables()
    spec = dataset_spec(data_config(events, labels))
    (tmp_path / "events.csv").write_bytes(b"seq,ts\n\xff\xfe,\x00\x81\n")
    with pytest.raises(DataError) as caught:
        build_source(spec).load()
    assert str(tmp_path / "events.csv") in str(caught.value)
