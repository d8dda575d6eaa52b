"""The NUTS chain both engines run, written once against TFP's API (``tfp`` is
``tensorflow_probability`` or its JAX substrate): dual-averaging step size over the first 80 %
of the warm-up, then ``settings.draws`` draws, tracing divergences, leapfrogs and step size."""
from __future__ import annotations


def sample_chain(tfp, log_prob, z0, seed, settings):
    """``(z (draws, chains, P), (divergent, leapfrogs, step size))`` from ``z0 (chains, P)``."""
    kernel = tfp.mcmc.DualAveragingStepSizeAdaptation(
        tfp.mcmc.NoUTurnSampler(log_prob, step_size=0.3, max_tree_depth=settings.max_tree_depth),
        num_adaptation_steps=int(0.8 * settings.warmup),
        target_accept_prob=settings.target_accept)
    return tfp.mcmc.sample_chain(
        num_results=settings.draws, num_burnin_steps=settings.warmup, current_state=z0,
        kernel=kernel, seed=seed,
        trace_fn=lambda _, pkr: (pkr.inner_results.has_divergence,
                                 pkr.inner_results.leapfrogs_taken, pkr.new_step_size))
