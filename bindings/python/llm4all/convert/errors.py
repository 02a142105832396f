"""The one exception type the converter raises for anything a user can get wrong.

Every message is a single line that names the file or tensor at fault, so the CLI can
print it as "llm4all: error: ..." without a traceback.
"""


class ConvertError(Exception):
    """A Hugging Face folder that cannot be converted (missing, corrupt or unsupported)."""
