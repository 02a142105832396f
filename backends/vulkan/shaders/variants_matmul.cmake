# Shader variants of mul_mat (../matmul.cpp): per weight type (the suffixes of
# quant_types.h) the one-token matrix-vector shader, its 64-row form for emulated
# devices, its 2..8-token form, and the tiled matrix-matrix shader.
foreach(t f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k iq4_nl iq4_xs)
  string(TOUPPER ${t} T)
  list(APPEND LLM4ALL_VK_SHADER_VARIANTS
    "mul_mat_vec_${t}:mul_mat_vec.comp:TYPE_${T}=1"
    "mul_mat_vec64_${t}:mul_mat_vec.comp:TYPE_${T}=1,MV_ROWS=64u"
    "mul_mat_vecn_${t}:mul_mat_vec.comp:TYPE_${T}=1,MV_TOK=8u"
    "mul_mat_mm_${t}:mul_mat_mm.comp:TYPE_${T}=1")
endforeach()
