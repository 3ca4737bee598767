//! A linear layer whose weight never trains.
//!
//! candle's matmul backward also computes the weight's gradient even when the
//! weight is a constant; for a frozen 135M-parameter base that is most of the
//! backward pass wasted (measured in `docs/llm.md`). This op returns only
//! dL/dx.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};

/// `y = x W^T` for a constant `W` of shape `[out, in]`.
#[derive(Debug, Clone)]
pub struct FrozenLinear {
    weight: Tensor,
}

impl FrozenLinear {
    pub fn new(weight: Tensor) -> Self {
        FrozenLinear { weight }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Plain forward; when `track_grad` the custom op carries dL/dx only.
    pub fn forward(&self, x: &Tensor, track_grad: bool) -> Result<Tensor> {
        if track_grad && x.track_op() {
            x.contiguous()?
                .apply_op1_arc(std::sync::Arc::new(Box::new(self.clone())))
        } else {
            x.broadcast_matmul(&self.weight.t()?)
        }
    }
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = match storage {
            CpuStorage::F32(v) => cpu_to_tensor(v, layout, self.weight.device())?,
            _ => candle_core::bail!("frozen-linear: expected an f32 input"),
        };
        if self.weight.dtype() != DType::F32 {
            candle_core::bail!(
                "frozen-linear: expected an f32 weight, got {:?}",
                self.weight.dtype()
            );
        }
        let y = x.broadcast_matmul(&self.weight.t()?)?;
        let shape = y.shape().clone();
        let data = y.flatten_all()?.to_vec1::<f32>()?;
        Ok((CpuStorage::F32(data), shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad_res.broadcast_matmul(&self.weight)?))
    }
}

/// Copies a contiguous CPU buffer into a fresh tensor (with no graph).
/// `forward` makes the input contiguous first.
fn cpu_to_tensor(v: &[f32], layout: &Layout, dev: &candle_core::Device) -> Result<Tensor> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Tensor::from_vec(v[start..end].to_vec(), layout.shape().clone(), dev),
        None => candle_core::bail!("frozen-linear: input must be contiguous"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn matches_matmul_and_gradient_wrt_input() -> Result<()> {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1., (5, 3), &dev)?;
        let x = Var::randn(0f32, 1., (2, 4, 3), &dev)?;
        let lin = FrozenLinear::new(w.clone());
        let y_op = lin.forward(x.as_tensor(), true)?;
        let y_ref = x.as_tensor().broadcast_matmul(&w.t()?)?;
        let diff = (&y_op - &y_ref)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "forward differs by {diff}");
        let g_op = y_op.sqr()?.sum_all()?.backward()?;
        let g_ref = y_ref.sqr()?.sum_all()?.backward()?;
        let a = g_op.get(x.as_tensor()).expect("grad reaches x");
        let b = g_ref.get(x.as_tensor()).expect("grad reaches x");
        let diff = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-4, "input gradient differs by {diff}");
        assert!(
            g_op.get(&w).is_none(),
            "the frozen weight must get no gradient"
        );
        Ok(())
    }

    #[test]
    fn strided_input_is_read_correctly() -> Result<()> {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1., (2, 3), &dev)?;
        let x = Var::randn(0f32, 1., (3, 4), &dev)?;
        let xt = x.as_tensor().t()?; // [4, 3], not contiguous
        let y = FrozenLinear::new(w.clone()).forward(&xt, true)?;
        let y_ref = xt.contiguous()?.matmul(&w.t()?)?;
        let diff = (&y - &y_ref)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5);
        Ok(())
    }
}
