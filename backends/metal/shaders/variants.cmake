# Kernel variants of the non-matmul ops: "name:source:DEFINE=VALUE,..." (see
# ../CMakeLists.txt), the same names as the Vulkan backend's shaders/variants.cmake.
list(APPEND LLM4ALL_METAL_VARIANTS
  "rms_norm:norm.metal:"
  "layer_norm:norm.metal:LAYER_NORM=1"
  "store_rows_f32:store_rows.metal:"
  "store_rows_f16:store_rows.metal:DST_F16=1"
  "attention_k32_v32:attention.metal:"
  "attention_k16_v16:attention.metal:K_F16=1,V_F16=1"
  "attention_k32_v16:attention.metal:V_F16=1"
  "attention_k16_v32:attention.metal:K_F16=1"
  "attention_split_k32_v32:attention.metal:SPLIT=1"
  "attention_split_k16_v16:attention.metal:SPLIT=1,K_F16=1,V_F16=1"
  "attention_split_k32_v16:attention.metal:SPLIT=1,V_F16=1"
  "attention_split_k16_v32:attention.metal:SPLIT=1,K_F16=1"
)
# get_rows for every weight type dequant.h reads (the suffixes of quant_types.h).
foreach(t f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k iq4_nl iq4_xs)
  string(TOUPPER ${t} T)
  list(APPEND LLM4ALL_METAL_VARIANTS "get_rows_${t}:get_rows.metal:TYPE_${T}=1")
endforeach()
