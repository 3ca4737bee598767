#!/usr/bin/env python3
"""Accuracy per kind of rendered media on `mmtool data synth-media`'s eval.json (stdlib only).

  synth_breakdown.py EVAL.json NAME=PRED.json [NAME=PRED.json ...]

Kinds come from each item's `synth` note (speech / condition map / degraded photo / plain
photo), so the table shows where the media token changes the answer. `mmtool eval` gives the
overall and per-modality figures; this only splits them further.
"""
import collections
import json
import sys


def kind(note):
    if note.startswith("speech"):
        return "speech"
    if note.startswith("photo"):
        return "photo"
    if any(w in note for w in ("low-res", "blurred", "hazy", "rainy", "noisy", "jpeg")):
        return "degraded photo"
    return "condition map"


def main():
    items = {it["id"]: it for it in json.load(open(sys.argv[1]))}
    runs = [a.split("=", 1) for a in sys.argv[2:]]
    kinds = collections.Counter(kind(it["synth"]) for it in items.values())
    rows = {}
    for name, path in runs:
        ok = collections.Counter()
        for p in json.load(open(path)):
            it = items[p["question_id"]]
            gold = it["conversations"][1]["value"]
            gold = {g.strip() for g in (gold if isinstance(gold, list) else [gold])}
            top = p["ranked"][0]["api_name"] if p.get("ranked") else None
            ok[kind(it["synth"])] += top in gold
        rows[name] = ok
    print("| run | " + " | ".join(f"{k} ({n})" for k, n in sorted(kinds.items())) + " | all |")
    print("|---" * (len(kinds) + 2) + "|")
    for name, ok in rows.items():
        cells = [f"{100 * ok[k] / n:.1f} %" for k, n in sorted(kinds.items())]
        total = 100 * sum(ok.values()) / sum(kinds.values())
        print(f"| {name} | " + " | ".join(cells) + f" | {total:.1f} % |")


if __name__ == "__main__":
    main()
