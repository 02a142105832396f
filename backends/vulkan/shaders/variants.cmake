# Shader variants of the non-matmul ops: "name:source:DEFINE=VALUE,..." (see ../CMakeLists.txt).
list(APPEND LLM4ALL_VK_SHADER_VARIANTS
  "rms_norm:norm.comp:"
  "layer_norm:norm.comp:LAYER_NORM=1"
  "store_rows_f32:store_rows.comp:"
  "store_rows_f16:store_rows.comp:DST_F16=1"
  "attention_k32_v32:attention.comp:"
  "attention_k16_v16:attention.comp:K_F16=1,V_F16=1"
  "attention_k32_v16:attention.comp:V_F16=1"
  "attention_k16_v32:attention.comp:K_F16=1"
  "attention_split_k32_v32:attention.comp:SPLIT=1"
  "attention_split_k16_v16:attention.comp:SPLIT=1,K_F16=1,V_F16=1"
  "attention_split_k32_v16:attention.comp:SPLIT=1,V_F16=1"
  "attention_split_k16_v32:attention.comp:SPLIT=1,K_F16=1"
)
# get_rows for every weight type dequant.glsl reads (the suffixes of quant_types.h).
foreach(t f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k iq4_nl iq4_xs)
  string(TOUPPER ${t} T)
  list(APPEND LLM4ALL_VK_SHADER_VARIANTS "get_rows_${t}:get_rows.comp:TYPE_${T}=1")
endforeach()
