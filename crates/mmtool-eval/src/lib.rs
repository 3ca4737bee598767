//! Evaluation: the paper's metrics (accuracy, hallucination, format) plus acc@k and breakdowns
