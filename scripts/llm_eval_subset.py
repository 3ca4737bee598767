#!/usr/bin/env python3
"""Score an `mmtool predict` file against ToolMMBench gold (stdlib only).

Used for docs/llm.md while the eval crate had not landed on main.
  make subset:  llm_eval_subset.py subset TEST.json N SEED OUT.json
  score:        llm_eval_subset.py score GOLD.json PRED.json CATALOG.jsonl
"""
import json, random, sys, collections


def subset(test, n, seed, out):
    items = json.load(open(test))
    random.Random(int(seed)).shuffle(items)
    json.dump(items[: int(n)], open(out, "w"))


def gold_list(it):
    v = [c for c in it["conversations"] if c["from"] == "gpt"][0]["value"]
    v = v if isinstance(v, list) else [v]
    return [s.strip() for s in v]


def score(gold_path, pred_path, catalog_path):
    gold = {it["id"]: it for it in json.load(open(gold_path))}
    preds = json.load(open(pred_path))
    cat = {json.loads(l)["id"] for l in open(catalog_path) if l.strip()}
    tot = collections.Counter(); ok = collections.Counter(); ok5 = 0; hall = 0; fmt = 0
    for p in preds:
        it = gold[p["question_id"]]
        g = set(gold_list(it))
        ranked = [r["api_name"] for r in p.get("ranked", [])]
        resp = p["response"]
        top = None
        if "api_name" in resp:
            fmt += 1
            top = resp.split("api_name", 1)[1].lstrip("'\": ").split("}")[0].strip().strip("'\"")
            if top not in cat:
                hall += 1
        amb = str(it.get("ambiguity", -1))
        keys = ["all", "mod:" + it["input_modality"], "amb:" + ("none" if amb == "-1" else amb)]
        for k in keys:
            tot[k] += 1
            ok[k] += top in g
        ok5 += bool(g & set(ranked[:5]))
    n = len(preds)
    print(f"items {n}  acc {100*ok['all']/n:.1f}%  acc@5 {100*ok5/n:.1f}%  format {100*fmt/n:.1f}%  hallucination {100*hall/n:.1f}%")
    for k in sorted(tot):
        if k != "all":
            print(f"  {k:10s} {tot[k]:5d}  acc {100*ok[k]/tot[k]:.1f}%")


if __name__ == "__main__":
    if sys.argv[1] == "subset":
        subset(*sys.argv[2:6])
    else:
        score(*sys.argv[2:5])
