"""Strict spec options and one-line I/O errors: each bad option and each unreadable file gives an error
naming the option (with the valid ones) or the file (and line), through the API and the CLI, and leaves
no output behind."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rewardkit.cli import app, main
from rewardkit.data.io import BadRow, DataError, write_pairs
from rewardkit.data.sources import open_source, read_pairs

HH_SPLITS = ("harmless-base", "helpful-base", "helpful-online", "helpful-rejection-sampled")


def _offsetbias_lines(n: int) -> str:
    return "".join(json.dumps({"instruction": f"q{i}", "output_1": f"good {i} " + "x" * 40, "output_2": f"bad {i}",
                               "label": 1}) + "\n" for i in range(n))


# --- spec options -------------------------------------------------------------------------------------

XS_VALID = "config, data_dir, every, max_pairs_per_prompt, split"
BAD_OPTIONS = {
    "typo of a real option": ("xstest:{x}?max_pair_per_prompt=1", f"unknown option 'max_pair_per_prompt'; valid options: {XS_VALID}"),
    "unknown option": ("xstest:{x}?foo=bar", f"unknown option 'foo'; valid options: {XS_VALID}"),
    "empty split": ("xstest:{x}?split=", "option split='': String should have at least 1 character"),
    "non-positive cap": ("xstest:{x}?max_pairs_per_prompt=0", "option max_pairs_per_prompt='0': Input should be greater than 0"),
    "non-integer cap": ("xstest:{x}?max_pairs_per_prompt=two", "option max_pairs_per_prompt='two': Input should be a valid integer"),
    "option given twice": ("xstest:{x}?max_pairs_per_prompt=1&max_pairs_per_prompt=2", "option 'max_pairs_per_prompt' given twice"),
    "value outside a choice": ("pku_saferlhf:{x}?prefer=kinder", "option prefer='kinder': Input should be 'better' or 'safer'"),
    "bad boolean": ("wildguardmix:{x}?adversarial=maybe", "option adversarial='maybe': Input should be a valid boolean"),
    "option of another reader": ("offsetbias:{x}?history=drop", "unknown option 'history'; valid options: config, data_dir, every, split"),
    "rewardbench split": ("rewardbench:{x}?split=train", "option split='train': Input should be 'filtered' or 'raw'"),
    "every 0th row": ("rewardbench:{x}?every=0", "option every='0': Input should be greater than or equal to 1"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_a_bad_option_is_an_error_naming_it_and_the_valid_ones(case):
    spec, message = BAD_OPTIONS[case]
    spec = spec.format(x="data/xstest")  # options are checked before anything is read
    with pytest.raises(ValueError) as exc:
        open_source(spec)
    assert message in str(exc.value) and str(exc.value).startswith(spec.split("?")[0])


def test_options_arrive_typed_and_change_the_read(shared_data):
    xstest = shared_data / "xstest"
    src = open_source(f"xstest:{xstest}?max_pairs_per_prompt=1")
    assert src.options.max_pairs_per_prompt == 1 and src.split == "gpt4"
    assert open_source(f"wildguardmix:x?adversarial=false").options.adversarial is False
    capped, _ = read_pairs(f"xstest:{xstest}?max_pairs_per_prompt=1")
    everything, _ = read_pairs(f"xstest:{xstest}")
    assert (len(capped), len(everything)) == (244, 976)  # the typo used to give 976


def test_every_nth_row_is_a_sample_by_position_that_keeps_every_subset(shared_data, tmp_path):
    from collections import Counter

    rb = shared_data / "rewardbench-filtered-first500" / "reward_bench_filtered_sample.jsonl"
    everything, _ = read_pairs(f"rewardbench:{rb}")
    sample, report = read_pairs(f"rewardbench:{rb}?every=5")
    assert [p.source_id for p in sample] == [p.source_id for p in everything[::5]]
    assert report.rows_read == len(sample) == 100  # the rows passed over are not read
    whole, part = Counter(p.meta["subset"] for p in everything), Counter(p.meta["subset"] for p in sample)
    assert part.keys() == whole.keys() and all(abs(part[s] - whole[s] / 5) <= 1 for s in whole)
    # positions, not file lines: a blank line does not shift the sample
    lines = ['{"prompt": "p%d", "chosen": "a", "rejected": "b", "subset": "s", "id": %d}' % (i, i) for i in range(5)]
    (tmp_path / "gaps.jsonl").write_text("\n\n".join(lines) + "\n")
    assert [p.source_id for p in read_pairs(f"rewardbench:{tmp_path / 'gaps.jsonl'}?every=2")[0]] == ["0", "2", "4"]


def test_reader_names_take_hyphens_for_underscores():
    assert open_source("hh-rlhf:x").reader.name == "hh_rlhf"
    assert open_source("magpie-pro-llama31:x").reader.name == "magpie_pro_llama31"
    with pytest.raises(ValueError, match="unknown reader 'hh-rlhff'; available: arena, generic"):
        open_source("hh-rlhff:x")


# --- file I/O: one line naming the file (and line) ----------------------------------------------------

def _truncated_gz(path: Path) -> None:
    blob = gzip.compress(_offsetbias_lines(2000).encode())
    path.write_bytes(blob[: len(blob) // 2])


def _not_gzip(path: Path) -> None:
    path.write_text(_offsetbias_lines(3))


def _bad_utf8_jsonl(path: Path) -> None:
    path.write_bytes(_offsetbias_lines(2).encode() + b'{"instruction": "caf\xe9"}\n' + _offsetbias_lines(1).encode())


def _bad_utf8_csv(path: Path) -> None:
    path.write_bytes(b'prompt,chosen,rejected\n"two\nlines",a,b\nq,\xff,b\n')


def _bad_utf8_json(path: Path) -> None:
    path.write_bytes(b'[\n{"instruction": "q", "output_1": "a", "output_2": "b", "label": 1},\n{"instruction": "\xc3("}\n]\n')


def _not_parquet(path: Path) -> None:
    path.write_text("prompt,chosen,rejected\n")


# kind -> (file name, writer, reader, the whole message after "FILE")
IO_FAILURES = {
    "truncated .jsonl.gz": ("d.jsonl.gz", _truncated_gz, "offsetbias",
                            ": truncated or corrupt gzip file after line {n} (Compressed file ended before the "
                            "end-of-stream marker was reached)"),
    "a .gz that is not gzip": ("d.jsonl.gz", _not_gzip, "offsetbias", ": not a gzip file (the .gz name says it is)"),
    "invalid UTF-8 in jsonl": ("d.jsonl", _bad_utf8_jsonl, "offsetbias", ":3: invalid UTF-8 (byte 0xe9 at column 21)"),
    "invalid UTF-8 in csv": ("d.csv", _bad_utf8_csv, "generic", ":4: invalid UTF-8 (byte 0xff at column 3)"),
    "invalid UTF-8 in a json array": ("d.json", _bad_utf8_json, "offsetbias", ":3: invalid UTF-8 (byte 0xc3 at column 18)"),
    "parquet that is not parquet": ("d.parquet", _not_parquet, "offsetbias",
                                    ": not a readable parquet file (Parquet magic bytes not found in footer. Either "
                                    "the file is corrupted or this is not a parquet file.)"),
}


@pytest.mark.parametrize("kind", list(IO_FAILURES))
def test_io_failure_is_one_line_naming_file_and_line(tmp_path, kind, capsys, monkeypatch):
    name, write, reader, tail = IO_FAILURES[kind]
    path = tmp_path / name
    write(path)
    with pytest.raises(DataError) as exc:
        read_pairs(f"{reader}:{path}")
    message = str(exc.value)
    if "{n}" in tail:  # the truncation point: the lines that decompressed whole
        n = int(message.split("after line ")[1].split(" ")[0])
        assert 0 < n < 2000
        tail = tail.format(n=n)
    assert message == f"{path}{tail}"
    # the CLI: exit 2, that one message on one line (no traceback, no bare "Aborted."), no output left
    out = tmp_path / "out" / "pairs.jsonl"
    monkeypatch.setattr("sys.argv", ["rewardkit", "data", "convert", f"{reader}:{path}", "--out", str(out)])
    monkeypatch.delenv("RK_DEBUG", raising=False)
    with pytest.raises(SystemExit) as code:
        main()
    printed = capsys.readouterr()
    assert code.value.code == 2 and printed.err == f"rewardkit: error: {message}\n" and printed.out == ""
    assert not out.exists() and not list(out.parent.glob(".tmp-*"))


def test_invalid_utf8_in_jsonl_is_a_bad_row_that_skip_mode_quarantines(tmp_path):
    path = tmp_path / "d.jsonl"
    _bad_utf8_jsonl(path)
    pairs, report = read_pairs(f"offsetbias:{path}", on_bad_row="skip", quarantine=tmp_path / "q.jsonl")
    assert len(pairs) == 3 and report.skipped == {"invalid UTF-8": 1}
    (record,) = [json.loads(x) for x in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert (record["row"], record["reason"]) == (3, "invalid UTF-8 (byte 0xe9 at column 21)")


def test_output_path_under_a_file_or_on_a_directory(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(DataError, match=rf"^{blocker}/out/p.jsonl: cannot write: a parent path is a file"):
        write_pairs(blocker / "out" / "p.jsonl", [])
    (tmp_path / "d.jsonl").mkdir()
    with pytest.raises(DataError, match=rf"^{tmp_path}/d.jsonl: cannot write: it is a directory"):
        write_pairs(tmp_path / "d.jsonl", [])
    assert blocker.read_text() == "x" and not list(tmp_path.glob(".tmp-*"))


@pytest.mark.skipif(not Path("/proc/self/mem").is_file(), reason="needs Linux /proc")
def test_unreadable_file(tmp_path):
    # A file whose read fails (EIO) whoever reads it, root included: a mode-000 file would not do.
    path = tmp_path / "d.jsonl"
    path.symlink_to("/proc/self/mem")
    with pytest.raises(DataError, match=rf"^{path}: cannot read \(Input/output error\)$"):
        read_pairs(f"offsetbias:{path}")


@pytest.mark.skipif(not Path("/proc/self/mem").is_file(), reason="needs Linux /proc")
def test_unwritable_output_place():
    with pytest.raises(DataError, match=r"^/proc/rewardkit-out/p.jsonl: cannot write \(No such file or directory\)$"):
        write_pairs("/proc/rewardkit-out/p.jsonl", [])


def test_broken_row_is_still_a_bad_row_and_a_data_error():
    assert issubclass(BadRow, DataError) and issubclass(DataError, ValueError)


# --- every shared HH-RLHF split through the CLI with default settings ---------------------------------

def test_convert_reads_every_hh_split_with_defaults_reporting_drops(shared_data, tmp_path):
    hh = shared_data / "hh-rlhf-test"
    expected = dict(zip(HH_SPLITS, (2299, 2333, 1129, 2714)))
    for split, n in expected.items():
        out = tmp_path / f"{split}.jsonl"
        result = CliRunner().invoke(app, ["data", "convert", f"hh-rlhf:{hh / split}", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert f"wrote {n} pairs" in result.output and "dropped by rule" in result.output
        assert len(out.read_text().splitlines()) == n
        dropped = [json.loads(x) for x in (tmp_path / f"{split}.jsonl.quarantine.jsonl").read_text().splitlines()]
        assert {r["action"] for r in dropped} == {"dropped"} and len(dropped) == len(_lines(hh / split)) - n


def _lines(folder: Path) -> list[str]:
    with gzip.open(folder / "test.jsonl.gz", "rt", encoding="utf-8") as f:
        return [x for x in f if x.strip()]


def test_stats_reads_every_hh_split_with_defaults_reporting_drops(shared_data, tmp_path):
    from tiny_models import tiny_tokenizer

    tiny_tokenizer().save_pretrained(tmp_path / "tok")
    specs = [f"hh-rlhf:{shared_data / 'hh-rlhf-test' / s}" for s in HH_SPLITS]
    result = CliRunner().invoke(app, ["data", "stats", *specs, "--tokenizer", str(tmp_path / "tok")],
                                env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "8,475" in result.output  # 2,299 + 2,333 + 1,129 + 2,714 pairs in the Total row
    assert "2,354 rows read, 2,333 pairs; dropped by rule 1 prompt: empty turn" in result.output
    assert "2,749 rows read, 2,714 pairs; dropped by rule 32 chosen identical to rejected" in result.output


def test_a_config_field_typed_data_spec_refuses_a_bad_spec_when_validated():
    from pydantic import BaseModel, ValidationError

    from rewardkit.data.sources import DataSpec

    class Stage(BaseModel):
        data: list[DataSpec]

    assert Stage(data=["hh-rlhf:x", "xstest:y?max_pairs_per_prompt=2"]).data[1] == "xstest:y?max_pairs_per_prompt=2"
    with pytest.raises(ValidationError, match=r"xstest:y\?max_pair_per_prompt=2: unknown option 'max_pair_per_prompt'"):
        Stage(data=["xstest:y?max_pair_per_prompt=2"])
    with pytest.raises(ValidationError, match="unknown reader 'hh'"):
        Stage(data=["hh:x"])
