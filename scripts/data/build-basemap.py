#!/usr/bin/env python3
"""Builds the base layer of Kizuna's public alert map for one area, from open data, as the
GeoJSON file `kizuna serve --basemap FILE` serves (format: crates/api-alerts/src/basemap.rs).

What goes in, for the bounding box given:

- rivers and shorelines (sea and lake) from GSHHG 2.3.7 at full resolution (Wessel & Smith;
  LGPL-3.0-or-later), read with Debian's `gmt` from Debian's `gmt-gshhg-full`
  (`apt-get install gmt gmt-gshhg-full`). WDB II rivers: major rivers only, about 1:3,000,000;
- optionally (`--osm FILE`) roads, railways, rivers, water and place names from an
  OpenStreetMap extract (© OpenStreetMap contributors, ODbL 1.0) that the site exported to
  GeoJSON itself. OpenStreetMap data is not reachable from Kizuna's build machines (no package
  registry carries it for Japan), so the demo base map has none; a city that can download an
  extract (for example Geofabrik's `kanto-latest.osm.pbf`) makes its own:

      osmium extract -b 139.05,36.30,139.40,36.55 kanto-latest.osm.pbf -o area.osm.pbf
      osmium export area.osm.pbf -o area.geojson        # Debian: apt-get install osmium-tool
      python3 scripts/data/build-basemap.py --bbox 139.05,36.30,139.40,36.55 \\
          --osm area.geojson --out /etc/kizuna/basemap.geojson
      kizuna serve --basemap /etc/kizuna/basemap.geojson ...

The municipal boundaries are not part of this file: the server draws them from its own table
(`--municipalities`), for whatever area the map shows.

Usage for the demo city 絆川市 (fictional, placed in 群馬県 around 139.20°E 36.41°N):

    python3 scripts/data/build-basemap.py --demo         # writes crates/server/demo/basemap.geojson
    python3 scripts/data/build-basemap.py --demo --check # fails if the committed file differs
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from datatool import reexec_in_venv

ROOT = Path(__file__).resolve().parents[2]
DEMO_OUT = ROOT / "crates/server/demo/basemap.geojson"
# The demo city's area and its surroundings (the Tone, the nearest river GSHHG has, runs
# 10–15 km south-west of the demo's shelters).
DEMO_BBOX = (138.95, 36.20, 139.45, 36.60)
GSHHG_ATTRIBUTION = "河川・水涯線: GSHHG 2.3.7 (Wessel & Smith, LGPL-3.0)"
OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"

MAJOR_ROADS = {"motorway", "trunk", "primary", "secondary", "motorway_link", "trunk_link", "primary_link"}
MINOR_ROADS = {"secondary_link", "tertiary", "tertiary_link", "unclassified", "residential", "living_street"}
PLACES = {"city", "town", "village", "suburb", "quarter", "neighbourhood", "hamlet"}


def gmt_lines(bbox, flag: str) -> list[list[tuple[float, float]]]:
    """Line segments `gmt coast -M` dumps for one feature class (-Ia rivers, -W shorelines)."""
    w, s, e, n = bbox
    try:
        # In a scratch directory: gmt leaves a gmt.history file where it runs.
        with tempfile.TemporaryDirectory() as scratch:
            out = subprocess.run(["gmt", "coast", f"-R{w}/{e}/{s}/{n}", "-Df", flag, "-M"],
                                 check=True, capture_output=True, text=True, cwd=scratch).stdout
    except FileNotFoundError:
        sys.exit("gmt is missing: apt-get install gmt gmt-gshhg-full")
    lines, cur = [], None
    for row in out.splitlines():
        if row.startswith(">"):
            cur = []
            lines.append(cur)
        elif row.strip() and cur is not None:
            x, y = row.split()[:2]
            cur.append((float(x), float(y)))
    return [l for l in lines if len(l) >= 2]


def clip_lines(lines, bbox):
    from shapely.geometry import LineString, MultiLineString, box

    area = box(*bbox)
    out = []
    for coords in lines:
        g = LineString(coords).intersection(area)
        parts = g.geoms if isinstance(g, MultiLineString) else [g]
        out.extend([[[round(x, 5), round(y, 5)] for x, y in p.coords] for p in parts
                    if p.geom_type == "LineString" and len(p.coords) >= 2])
    return out


def osm_features(path: Path, bbox):
    """Roads, railways, rivers, water and places from `osmium export` GeoJSON, clipped."""
    from shapely.geometry import box, mapping, shape

    area = box(*bbox)
    doc = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for f in doc.get("features", []):
        p = f.get("properties") or {}
        geom = shape(f["geometry"])
        kind = geom.geom_type
        layer, cls = None, None
        if p.get("highway") in MAJOR_ROADS | MINOR_ROADS and "Line" in kind:
            layer, cls = "road", "major" if p["highway"] in MAJOR_ROADS else "minor"
        elif p.get("railway") == "rail" and "Line" in kind:
            layer = "railway"
        elif p.get("waterway") in {"river", "canal", "stream"} and "Line" in kind:
            layer, cls = "river", "major" if p["waterway"] != "stream" else "minor"
        elif (p.get("natural") == "water" or p.get("waterway") == "riverbank" or p.get("landuse") == "reservoir") \
                and "Polygon" in kind:
            layer = "water"
        elif p.get("natural") == "coastline" and "Line" in kind:
            layer = "coastline"
        elif p.get("place") in PLACES and kind == "Point" and p.get("name"):
            layer = "place"
        if layer is None:
            continue
        clipped = geom.intersection(area)
        if clipped.is_empty:
            continue
        g = mapping(clipped)
        if g["type"] not in {"LineString", "MultiLineString", "Polygon", "MultiPolygon", "Point"}:
            continue
        props = {"layer": layer}
        if p.get("name"):
            props["name"] = p["name"]
        if cls:
            props["class"] = cls
        out.append({"type": "Feature", "properties": props, "geometry": json.loads(json.dumps(g))})
    return out


def build(bbox, osm: Path | None) -> bytes:
    features = []
    for coords in clip_lines(gmt_lines(bbox, "-Ia"), bbox):
        features.append({"type": "Feature", "properties": {"layer": "river", "class": "major"},
                         "geometry": {"type": "LineString", "coordinates": coords}})
    for coords in clip_lines(gmt_lines(bbox, "-W"), bbox):
        features.append({"type": "Feature", "properties": {"layer": "coastline"},
                         "geometry": {"type": "LineString", "coordinates": coords}})
    attribution = [GSHHG_ATTRIBUTION]
    if osm is not None:
        features.extend(osm_features(osm, bbox))
        attribution.append(OSM_ATTRIBUTION)
    if not features:
        sys.exit(f"no base-map data in {bbox}")
    doc = {"type": "FeatureCollection", "attribution": "; ".join(attribution),
           "bbox": list(bbox), "features": features}
    print(f"{len(features)} features in {bbox}", file=sys.stderr)
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bbox", help="west,south,east,north in degrees")
    ap.add_argument("--osm", type=Path, help="GeoJSON exported from an OpenStreetMap extract (osmium export)")
    ap.add_argument("--out", type=Path, help="the file to write")
    ap.add_argument("--demo", action="store_true", help=f"the demo city: bbox {DEMO_BBOX}, out {DEMO_OUT.relative_to(ROOT)}")
    ap.add_argument("--check", action="store_true", help="fail if the output file differs from a rebuild")
    ap.add_argument("--work", type=Path, default=ROOT / "target/data-build")
    args = ap.parse_args()
    reexec_in_venv(args.work, __file__)
    if args.demo:
        bbox, out = DEMO_BBOX, args.out or DEMO_OUT
    else:
        if not (args.bbox and args.out):
            ap.error("give --bbox and --out (or --demo)")
        bbox = tuple(float(x) for x in args.bbox.split(","))
        if len(bbox) != 4 or not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
            ap.error("--bbox is west,south,east,north with west < east and south < north")
        out = args.out
    data = build(bbox, args.osm)
    if args.check:
        if not out.exists() or out.read_bytes() != data:
            sys.exit(f"out of date: {out}")
        print("up to date", file=sys.stderr)
        return
    out.write_bytes(data)
    print(f"wrote {out} ({len(data)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
