module llm4all

go 1.19
