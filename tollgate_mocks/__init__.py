"""Mock upstream providers: development and test tools, not part of the suite.

Each speaks one provider's wire format and answers with the demo model, with
settable latency, token pace and failures (`faults.py`):

- `openai_upstream`: any OpenAI-compatible server (chat, embeddings, `/_served`);
  `MockUpstream` serves an app on a free port in a background thread.
- `anthropic_upstream`: the Messages API, with its prompt cache (`prompt_cache`).
- `gemini_upstream`: `generateContent`, `streamGenerateContent` and embeddings.

`tollgate mock-upstream` serves any of them from the command line. Nothing in
`tollgate/` or `services/` imports this package (the CLI loads it only for that
command).
"""
