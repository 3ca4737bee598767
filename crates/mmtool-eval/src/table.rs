//! The human-readable report.

use std::fmt::Write;

use crate::{IdList, Metrics, Report, KS};

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), pct)
}

fn ambiguity_name(code: i32) -> &'static str {
    match code {
        -1 => "none",
        1 => "data domain",
        2 => "label set",
        3 => "image quality",
        4 => "input condition",
        5 => "other",
        _ => "unnamed",
    }
}

fn row(out: &mut String, label: &str, m: &Metrics) {
    let _ = write!(
        out,
        "  {label:<22} {:>5} {:>8} {:>8} {:>8}",
        m.n,
        pct(m.accuracy),
        pct(m.format_accuracy),
        opt_pct(m.hallucination_rate)
    );
    for v in m.acc_at_k.values() {
        let _ = write!(out, " {:>8}", pct(*v));
    }
    out.push('\n');
}

fn header(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "\n{title:<24} {:>5} {:>8} {:>8} {:>8}",
        "n", "acc", "format", "halluc"
    );
    for k in KS {
        let _ = write!(out, " {:>8}", format!("acc@{k}"));
    }
    out.push('\n');
}

fn ids(out: &mut String, what: &str, l: &IdList) {
    if l.count == 0 {
        return;
    }
    let shown: Vec<String> = l.first_ids.iter().map(u64::to_string).collect();
    let more = if l.count > l.first_ids.len() {
        ", ..."
    } else {
        ""
    };
    let _ = writeln!(out, "{what}: {} (ids {}{more})", l.count, shown.join(", "));
}

/// Renders a report as the table `mmtool eval` prints by default.
pub fn render_table(r: &Report) -> String {
    let o = &r.overall;
    let mut out = String::new();
    let _ = writeln!(out, "{} gold items, {} with a prediction", o.n, o.predicted);
    let _ = writeln!(
        out,
        "accuracy            {:>8}  ({}/{} correct)",
        pct(o.accuracy),
        o.correct,
        o.n
    );
    let _ = writeln!(
        out,
        "format accuracy     {:>8}  ({}/{} responses parse to one api name)",
        pct(o.format_accuracy),
        o.parsed,
        o.n
    );
    let _ = writeln!(
        out,
        "hallucination rate  {:>8}  ({}/{} parsed names are not catalog tools)",
        opt_pct(o.hallucination_rate),
        o.hallucinated,
        o.parsed
    );
    let at_k: Vec<String> = o
        .acc_at_k
        .iter()
        .map(|(k, v)| format!("@{k} {}", pct(*v)))
        .collect();
    let _ = writeln!(out, "acc@k               {}", at_k.join("  "));
    if r.ranked_fallback > 0 {
        let _ = writeln!(
            out,
            "  ({} predictions have no ranked list; their acc@k uses the response alone)",
            r.ranked_fallback
        );
    }
    let u = &r.unknown;
    let _ = writeln!(
        out,
        "unknown             precision {} ({}/{})  recall {} ({}/{})",
        opt_pct(u.precision),
        u.correct,
        u.predicted,
        opt_pct(u.recall),
        u.correct,
        u.gold
    );

    header(&mut out, "by modality");
    for (m, metrics) in &r.by_modality {
        row(&mut out, m.as_str(), metrics);
    }
    header(&mut out, "by ambiguity");
    for (code, metrics) in &r.by_ambiguity {
        row(
            &mut out,
            &format!("{code} {}", ambiguity_name(*code)),
            metrics,
        );
    }
    header(&mut out, "by answer set");
    for (set, metrics) in &r.by_answer_set {
        row(&mut out, &set.replace('_', "-"), metrics);
    }
    header(&mut out, "overall");
    row(&mut out, "all", o);

    if r.missing_predictions.count + r.extra_predictions.count > 0 {
        out.push('\n');
    }
    ids(
        &mut out,
        "gold items without a prediction (scored wrong)",
        &r.missing_predictions,
    );
    ids(
        &mut out,
        "predictions for ids not in the gold file (ignored)",
        &r.extra_predictions,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{evaluate, Prediction};
    use mmtool_catalog::{Catalog, ToolCard};
    use mmtool_data::{Item, Modality};

    #[test]
    fn table_shows_headline_figures_breakdowns_and_missing_ids() {
        let card = ToolCard {
            id: "a".into(),
            task: "t".into(),
            domain: "d".into(),
            input_modality: Modality::Text,
            output_modality: "text".into(),
            languages: vec![],
            summary: "s".into(),
            tags: vec![],
            api_call: "c".into(),
            confidence: "high".into(),
        };
        let catalog = Catalog::from_cards(vec![card]).unwrap();
        let gold: Vec<Item> = [(1, -1), (2, 4)]
            .map(|(id, ambiguity)| Item {
                id,
                source_id: None,
                instruction: "q".into(),
                modality: Modality::Image,
                media_path: None,
                media_description: None,
                answers: vec!["a".into()],
                ambiguity,
                one_to_many: false,
            })
            .to_vec();
        let preds = vec![
            Prediction {
                question_id: 1,
                questions: String::new(),
                response: "{'api_name': a}".into(),
                ranked: None,
            },
            Prediction {
                question_id: 7,
                questions: String::new(),
                response: "{'api_name': a}".into(),
                ranked: None,
            },
        ];
        let t = render_table(&evaluate(&gold, &preds, &catalog).unwrap());
        for want in [
            "2 gold items, 1 with a prediction",
            "accuracy              50.00%  (1/2 correct)",
            "hallucination rate     0.00%  (0/1 parsed",
            "@1 50.00%",
            "1 predictions have no ranked list",
            "precision - (0/0)",
            "  image                      2   50.00%",
            "  4 input condition          1    0.00%",
            "  single ",
            "gold items without a prediction (scored wrong): 1 (ids 2)",
            "predictions for ids not in the gold file (ignored): 1 (ids 7)",
        ] {
            assert!(t.contains(want), "missing {want:?} in\n{t}");
        }
    }
}
