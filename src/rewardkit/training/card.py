"""The model cards of a training run's exports (rewardkit.models.card): model/ and, with
`export_probe_model`, probe_model/ (the LP head on the frozen backbone, before fine-tuning)."""

from __future__ import annotations

from rewardkit.data.stats import TOKEN_SAMPLE, source_table
from rewardkit.models.card import update_card
from rewardkit.models.loading import base_model_id
from rewardkit.training.config import MODEL_DIR, PROBE_MODEL_DIR
from rewardkit.training.summary import TrainSummary


def how_trained(cfg) -> str:
    """One sentence of what training did, from the resolved config."""
    start = "a linear probe head fitted on the frozen features (LP-FT)" if cfg.head_init == "probe" else "a fresh score head"
    layers = ("LoRA adapters (merged into the weights)" if cfg.lora else
              f"the top {cfg.train_top_k_layers} blocks" if cfg.train_top_k_layers else "every block")
    return (f"Fine-tuned from {start} with the `{cfg.loss}` loss, {layers} trained, lr {cfg.lr:g}, global batch "
            f"{cfg.global_batch_size}, max_length {cfg.max_length}.")


def write_cards(run, summary: TrainSummary) -> None:
    """Card facts of the run: base model, training mixture (Table 1 of the kept training pairs), held-out
    accuracy, the resolved recipe. The probe model's card reports the probe's held-out column as its own."""
    recipe = (run.out_dir / "recipe.yaml").read_text(encoding="utf-8") if (run.out_dir / "recipe.yaml").is_file() else None
    common = {"base_model": base_model_id(run.cfg.model), "recipe": recipe,
              "mixture": source_table(run.train_set.pairs, run.tokenizer, TOKEN_SAMPLE, run.cfg.seed)}
    heldout = summary.model_dump(mode="json", exclude_unset=True).get("heldout")
    update_card(run.out_dir / MODEL_DIR, **common, title=f"Reward model: {run.out_dir.name}", how=how_trained(run.cfg),
                heldout=heldout, path=str(run.out_dir / MODEL_DIR))
    probe_dir = run.out_dir / PROBE_MODEL_DIR
    if run.cfg.export_probe_model and probe_dir.is_dir():
        probe_heldout = None if heldout is None or "probe" not in heldout["all"] else {
            source: {"model": row["probe"], "length_baseline": row["length_baseline"]} for source, row in heldout.items()}
        update_card(probe_dir, **common, title=f"Linear-probe reward model: {run.out_dir.name}",
                    how="A linear probe head fitted on the frozen backbone's last-token features of the training pairs "
                        "(the start of LP-FT, before fine-tuning).", heldout=probe_heldout, path=str(probe_dir))
