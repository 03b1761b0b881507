/**
 * What the launch emitters are checked against: the flags Megatron-LM's argument parser defines
 * and the keys of torchtitan's TOML job files, each read from the engine's source at the commit
 * named. Only what the emitters may write is listed (with each flag's kind and choices as the
 * source gives them), plus the rest of each torchtitan section we write, so that a misspelt key
 * is caught. Update a list only from the source, and move its commit with it.
 */

/**
 * NVIDIA/Megatron-LM, megatron/training/arguments.py at commit
 * 000c4ac24f61159c138b0975def722c65245983c (the 2025 parser: add_megatron_arguments and its
 * _add_*_args groups). `switch`: action='store_true' / 'store_false' (takes no value).
 */
export const MEGATRON_SOURCE = "NVIDIA/Megatron-LM megatron/training/arguments.py @ 000c4ac24f61159c138b0975def722c65245983c";

type Flag = { kind: "switch" } | { kind: "int" } | { kind: "float" } | { kind: "str"; choices?: readonly string[] };

export const MEGATRON_FLAGS: Record<string, Flag> = {
  // _add_network_size_args
  "--num-layers": { kind: "int" },
  "--hidden-size": { kind: "int" },
  "--ffn-hidden-size": { kind: "int" },
  "--num-attention-heads": { kind: "int" },
  // type=AttnBackend[...], choices=list(AttnBackend): flash, fused, unfused, local, auto (its help text)
  "--attention-backend": { kind: "str", choices: ["flash", "fused", "unfused", "local", "auto"] },
  "--group-query-attention": { kind: "switch" },
  "--num-query-groups": { kind: "int" },
  "--max-position-embeddings": { kind: "int" },
  "--position-embedding-type": { kind: "str", choices: ["learned_absolute", "rope", "mrope", "relative", "none"] },
  "--rotary-base": { kind: "int" },
  "--make-vocab-size-divisible-by": { kind: "int" },
  "--normalization": { kind: "str", choices: ["LayerNorm", "RMSNorm"] },
  "--norm-epsilon": { kind: "float" },
  "--swiglu": { kind: "switch" },
  "--untie-embeddings-and-output-weights": { kind: "switch" },
  // _add_regularization_args
  "--attention-dropout": { kind: "float" },
  "--hidden-dropout": { kind: "float" },
  "--weight-decay": { kind: "float" },
  "--clip-grad": { kind: "float" },
  "--adam-beta1": { kind: "float" },
  "--adam-beta2": { kind: "float" },
  "--adam-eps": { kind: "float" },
  // _add_training_args
  "--micro-batch-size": { kind: "int" },
  "--global-batch-size": { kind: "int" },
  "--recompute-granularity": { kind: "str", choices: ["full", "selective"] },
  "--recompute-method": { kind: "str", choices: ["uniform", "block"] },
  "--recompute-num-layers": { kind: "int" },
  "--train-iters": { kind: "int" },
  "--disable-bias-linear": { kind: "switch" },
  "--sequence-parallel": { kind: "switch" },
  "--no-gradient-accumulation-fusion": { kind: "switch" },
  // _add_initialization_args
  "--seed": { kind: "int" },
  "--init-method-std": { kind: "float" },
  // _add_learning_rate_args
  "--lr": { kind: "float" },
  "--lr-decay-style": { kind: "str", choices: ["constant", "linear", "cosine", "inverse-square-root", "WSD"] },
  "--lr-warmup-iters": { kind: "int" },
  "--min-lr": { kind: "float" },
  // _add_checkpointing_args
  "--ckpt-format": { kind: "str", choices: ["torch", "torch_dist", "zarr", "torch_dcp", "fsdp_dtensor"] },
  // _add_mixed_precision_args
  "--fp16": { kind: "switch" },
  "--bf16": { kind: "switch" },
  "--grad-reduce-in-bf16": { kind: "switch" },
  "--initial-loss-scale": { kind: "float" },
  "--loss-scale-window": { kind: "float" },
  "--hysteresis": { kind: "int" },
  "--accumulate-allreduce-grads-in-fp32": { kind: "switch" },
  // _add_distributed_args
  "--tensor-model-parallel-size": { kind: "int" },
  "--pipeline-model-parallel-size": { kind: "int" },
  "--pipeline-model-parallel-layout": { kind: "str" },
  "--num-layers-per-virtual-pipeline-stage": { kind: "int" },
  "--num-virtual-stages-per-pipeline-rank": { kind: "int" },
  "--overlap-grad-reduce": { kind: "switch" },
  "--use-distributed-optimizer": { kind: "switch" },
  "--use-megatron-fsdp": { kind: "switch" },
  "--data-parallel-sharding-strategy": { kind: "str", choices: ["no_shard", "optim", "optim_grads", "optim_grads_params"] },
  // _add_tokenizer_args
  "--vocab-size": { kind: "int" },
  "--tokenizer-type": {
    kind: "str",
    choices: [
      "BertWordPieceLowerCase", "BertWordPieceCase", "GPT2BPETokenizer", "SentencePieceTokenizer", "GPTSentencePieceTokenizer",
      "HuggingFaceTokenizer", "Llama2Tokenizer", "TikTokenizer", "MultimodalTokenizer", "NullTokenizer", "NullMultimodalTokenizer", "SFTTokenizer",
    ],
  },
  // _add_data_args
  "--mock-data": { kind: "switch" },
  "--seq-length": { kind: "int" },
};

/**
 * pytorch/torchtitan, torchtitan/config/job_config.py at commit
 * 6404b932421f5ce382e7dac5ad381b2c17b1373c: the JobConfig dataclasses that a TOML job file
 * (`--job.config_file`) fills, section by section. Every field of the sections the emitter
 * writes, with its type (`choices` for a Literal).
 */
export const TORCHTITAN_SOURCE = "pytorch/torchtitan torchtitan/config/job_config.py @ 6404b932421f5ce382e7dac5ad381b2c17b1373c";

type Key = { type: "int" | "float" | "str" | "bool" | "list"; choices?: readonly string[] };
const int: Key = { type: "int" };
const float: Key = { type: "float" };
const str: Key = { type: "str" };
const bool: Key = { type: "bool" };
const list: Key = { type: "list" };

export const TORCHTITAN_KEYS: Record<string, Record<string, Key>> = {
  job: { config_file: str, dump_folder: str, description: str, use_for_integration_test: bool, print_args: bool },
  model: { name: str, flavor: str, tokenizer_path: str, converters: list, print_after_conversion: bool },
  optimizer: {
    name: str, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
    implementation: { type: "str", choices: ["for-loop", "foreach", "fused"] }, early_step_in_backward: bool,
  },
  lr_scheduler: { warmup_steps: int, decay_ratio: float, decay_type: { type: "str", choices: ["linear", "sqrt", "cosine"] }, min_lr_factor: float },
  training: {
    dataset: str, dataset_path: str, local_batch_size: int, global_batch_size: int, seq_len: int, max_norm: float, steps: int,
    enable_cpu_offload: bool, mixed_precision_param: { type: "str", choices: ["bfloat16", "float32"] },
    mixed_precision_reduce: { type: "str", choices: ["float32"] }, compile: bool, gc_freq: int, gc_debug: bool, seed: int, deterministic: bool,
  },
  parallelism: {
    data_parallel_replicate_degree: int, enable_compiled_autograd: bool, data_parallel_shard_degree: int,
    fsdp_reshard_after_forward: { type: "str", choices: ["default", "always", "never"] }, tensor_parallel_degree: int,
    disable_loss_parallel: bool, enable_async_tensor_parallel: bool, pipeline_parallel_degree: int, pipeline_parallel_split_points: list,
    module_fqns_per_model_part: list, pipeline_parallel_first_stage_less_layers: int, pipeline_parallel_last_stage_less_layers: int,
    pipeline_parallel_layers_per_stage: int, pipeline_parallel_schedule: str, pipeline_parallel_schedule_csv: str,
    pipeline_parallel_microbatch_size: int, context_parallel_degree: int,
    context_parallel_rotate_method: { type: "str", choices: ["allgather", "alltoall"] }, expert_parallel_degree: int,
  },
  activation_checkpoint: {
    mode: { type: "str", choices: ["selective", "full", "none"] }, selective_ac_option: str, per_op_sac_force_recompute_mm_shapes_by_fqns: list,
  },
};

/**
 * pytorch/pytorch, torch/distributed/pipelining/schedules.py at commit
 * 1fd7abc2f521e4429a29c3088e39ebaca20f4698: get_schedule_class's names, which torchtitan's
 * parallelism.pipeline_parallel_schedule takes.
 */
export const TORCH_SCHEDULES_SOURCE = "pytorch/pytorch torch/distributed/pipelining/schedules.py @ 1fd7abc2f521e4429a29c3088e39ebaca20f4698";
export const TORCH_SCHEDULES = ["1F1B", "Interleaved1F1B", "GPipe", "LoopedBFS", "InterleavedZeroBubble", "PipelineScheduleSingle", "PipelineScheduleMulti", "ZBVZeroBubble"];
/** Of those, the schedules that hold one stage per rank (the rest loop over several). */
export const TORCH_SINGLE_STAGE_SCHEDULES = ["1F1B", "GPipe"];

/**
 * pytorch/torchtitan, torchtitan/models/llama3/__init__.py at commit
 * 8c6bf93e5c5874c1f89c3a8e5a22fa5724ddebe7: llama3_configs, as TransformerModelArgs fields.
 */
export const TORCHTITAN_LLAMA3_SOURCE = "pytorch/torchtitan torchtitan/models/llama3/__init__.py @ 8c6bf93e5c5874c1f89c3a8e5a22fa5724ddebe7";
export const TORCHTITAN_LLAMA3_FLAVORS = {
  "8B": { dim: 4096, n_layers: 32, n_heads: 32, n_kv_heads: 8, ffn_dim_multiplier: 1.3, multiple_of: 1024, rope_theta: 500000 },
  "70B": { dim: 8192, n_layers: 80, n_heads: 64, n_kv_heads: 8, ffn_dim_multiplier: 1.3, multiple_of: 4096, rope_theta: 500000 },
  "405B": { dim: 16384, n_layers: 126, n_heads: 128, n_kv_heads: 8, ffn_dim_multiplier: 1.2, multiple_of: 4096, rope_theta: 500000 },
} as const;
