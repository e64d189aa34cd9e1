"""The `webinfer` command line: generate, chat, info, bench, quantize, embed.

A stable interface for scripts: `generate` prints only the generated text on stdout (or one
JSON object with --json); progress, the device and sampling in use, and errors go to stderr; an
error is one line and a non-zero exit, never a traceback. Sampling flags left out take the
model's recommended values (Model.recommended_sampling). `embed` prints one line a text: its
embedding's values (pooled, L2-normalised), or with --json an object {"text", "ids", "embedding"}. `chat` is interactive: slash commands
(CHAT_COMMANDS; /help lists them), Ctrl-C cancels an answer, and at the prompt leaves.

Not here: anything the Python API cannot do (this module only parses arguments and prints).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time

from .errors import WebinferError
from .syncio import iterate_sync

EXIT_ERROR = 1
EXIT_USAGE = 2


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except WebinferError as e:
        print(f"webinfer: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, ValueError) as e:   # bad paths, bad values: still one clear line
        print(f"webinfer: error: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="webinfer", description="Run GGUF language models with webinfer.")
    sub = p.add_subparsers(dest="command", required=True)

    def model_args(sp):
        sp.add_argument("--model", default=None, help="GGUF path or URL (default: SmolLM2-135M-Instruct Q4_1)")
        sp.add_argument("--device", default="auto", choices=["auto", "numpy", "webgpu"])
        sp.add_argument("--n-ctx", type=int, default=None, help="context to allocate")
        sp.add_argument("--quiet", action="store_true", help="no progress bar")

    def sampling_args(sp):
        # None: the model's recommended value (Model.recommended_sampling: its GGUF, its model card,
        # else webinfer's default); the chosen values are printed on stderr
        sp.add_argument("--max-tokens", type=int, default=None)
        sp.add_argument("--temperature", type=float, default=None, help="0 = greedy")
        sp.add_argument("--top-k", type=int, default=None, help="0 = off")
        sp.add_argument("--top-p", type=float, default=None, help="1 = off")
        sp.add_argument("--min-p", type=float, default=None, help="0 = off")
        sp.add_argument("--repetition-penalty", type=float, default=None, help="1 = off")
        sp.add_argument("--seed", type=int, default=None)
        sp.add_argument("--stop", action="append", default=None, help="stop string (repeatable)")

    g = sub.add_parser("generate", help="continue a prompt (or answer it with --chat)")
    model_args(g)
    sampling_args(g)
    g.add_argument("--chat", action="store_true", help="apply the chat template to PROMPT as one user message")
    g.add_argument("--system", default=None, help="system message (with --chat)")
    g.add_argument("--json", action="store_true", help="print one JSON object instead of the text")
    g.add_argument("--grammar", metavar="FILE", default=None, help="constrain the output to a GBNF grammar")
    g.add_argument("--json-schema", metavar="FILE", default=None,
                   help="constrain the output to JSON valid under this JSON Schema")
    g.add_argument("--json-object", action="store_true", help="constrain the output to a JSON object")
    g.add_argument("--tools", metavar="FILE", default=None,
                   help="with --chat: OpenAI tools (a JSON list); prints the reply message as JSON")
    g.add_argument("--tool-choice", default=None, metavar="CHOICE",
                   help="with --tools: auto (default), required, none, or a tool's name")
    g.add_argument("prompt")
    g.set_defaults(func=cmd_generate)

    c = sub.add_parser("chat", help="interactive multi-turn chat")
    model_args(c)
    sampling_args(c)
    c.add_argument("--system", default=None)
    c.set_defaults(func=cmd_chat)

    i = sub.add_parser("info", help="describe a GGUF file")
    i.add_argument("file", nargs="?", default=None)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    b = sub.add_parser("bench", help="prefill and decode tokens/s")
    model_args(b)
    b.add_argument("--prompt-tokens", type=int, default=128)
    b.add_argument("--decode-tokens", type=int, default=64)
    b.add_argument("--no-hf", action="store_true", help="skip the HF transformers baseline")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench)

    q = sub.add_parser("quantize", help="re-quantize a GGUF to a type or llama.cpp mix (Q4_K_M, Q5_K_M, Q8_0, ...)")
    q.add_argument("input")
    q.add_argument("output")
    q.add_argument("--type", required=True, help="Q4_K_M, Q5_K_M, or a type name (Q8_0, Q4_0, Q6_K, IQ4_NL, F16, ...)")
    q.set_defaults(func=cmd_quantize)
    e = sub.add_parser("embed", help="sentence embeddings of texts (a BERT model: all-MiniLM-L6-v2 by default)")
    e.add_argument("--model", default=None, help="HF checkpoint folder (config.json, model.safetensors, "
                                                 "tokenizer.json) or bert GGUF (default: all-MiniLM-L6-v2)")
    e.add_argument("--device", default="auto", choices=["auto", "numpy", "webgpu"])
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument("--json", action="store_true", help='one JSON object a line: {"text", "ids", "embedding"}')
    e.add_argument("--quiet", action="store_true", help="nothing on stderr but errors")
    e.add_argument("texts", nargs="+", metavar="TEXT")
    e.set_defaults(func=cmd_embed)
    return p


# -- loading with a progress bar -----------------------------------------------------------------
def _load(args):
    from .model import load
    bar = None if args.quiet or not sys.stderr.isatty() else _ProgressBar()
    model = load(args.model, device=args.device, n_ctx=args.n_ctx, progress=bar)
    if bar:
        bar.done()
    print(f"webinfer: {model.config.name} on {model.device.description}", file=sys.stderr)
    return model


class _ProgressBar:
    def __init__(self):
        self.t0, self.last = time.monotonic(), 0.0

    def __call__(self, stage, done, total):
        now = time.monotonic()
        if now - self.last < 0.1 and done != total:
            return
        self.last = now
        frac = done / total if total else 0.0
        bar = "#" * int(30 * frac)
        size = f"{done / 2**20:.1f}/{total / 2**20:.1f} MiB" if stage == "read" else f"{done}/{total}"
        print(f"\r{stage:>6} [{bar:<30}] {100 * frac:5.1f}% {size}   ", end="", file=sys.stderr, flush=True)

    def done(self):
        print(f"\r{' ' * 70}\r", end="", file=sys.stderr, flush=True)


def _sampling(args, model) -> dict:
    """The generate() keywords the user gave; the rest come from model.recommended_sampling
    (Model.generate fills them). Says on stderr what a run uses and where it comes from."""
    given = dict(max_tokens=args.max_tokens, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                 min_p=args.min_p, repetition_penalty=args.repetition_penalty, seed=args.seed, stop=args.stop)
    given = {k: v for k, v in given.items() if v is not None}
    rec = model.recommended_sampling
    flags = [k for k in rec.generate_kwargs() if k in given]
    used = dataclasses.replace(rec, **{k: given[k] for k in flags},
                               source=rec.source + (f"; flags: {', '.join(flags)}" if flags else ""))
    if not args.quiet:
        print(f"webinfer: sampling: {used.describe()}", file=sys.stderr)
    return given


def _constraint(args) -> dict:
    """generate()'s response_format= / grammar= from --grammar, --json-schema, --json-object."""
    given = [f for f in ("grammar", "json_schema", "json_object") if getattr(args, f)]
    if len(given) > 1:
        raise WebinferError("give one of --grammar, --json-schema, --json-object")
    if args.grammar:
        with open(args.grammar, encoding="utf-8") as f:
            return {"grammar": f.read()}
    if args.json_schema:
        with open(args.json_schema, encoding="utf-8") as f:
            try:
                schema = json.load(f)
            except json.JSONDecodeError as e:
                raise WebinferError(f"--json-schema {args.json_schema}: not JSON ({e})") from None
        return {"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}}
    if args.json_object:
        return {"response_format": {"type": "json_object"}}
    return {}


def _tools(args) -> dict:
    """create_chat_completion's tools= / tool_choice= from --tools FILE and --tool-choice."""
    if args.tools is None:
        if args.tool_choice is not None:
            raise WebinferError("--tool-choice needs --tools")
        return {}
    if not args.chat:
        raise WebinferError("--tools needs --chat")
    with open(args.tools, encoding="utf-8") as f:
        try:
            tools = json.load(f)
        except json.JSONDecodeError as e:
            raise WebinferError(f"--tools {args.tools}: not JSON ({e})") from None
    choice = args.tool_choice
    if choice not in (None, "auto", "required", "none"):
        choice = {"type": "function", "function": {"name": choice}}
    return {"tools": tools, "tool_choice": choice}


# -- commands ----------------------------------------------------------------------------------------
def cmd_generate(args) -> int:
    model = _load(args)
    tools = _tools(args)
    if tools:
        msgs = ([{"role": "system", "content": args.system}] if args.system else []) + \
               [{"role": "user", "content": args.prompt}]
        r = model.create_chat_completion(msgs, **tools, **_sampling(args, model), **_constraint(args))
        print(json.dumps(r if args.json else r["choices"][0]["message"], ensure_ascii=False))
        return 0
    if args.chat:
        msgs = ([{"role": "system", "content": args.system}] if args.system else []) + \
               [{"role": "user", "content": args.prompt}]
        prompt = model.encode_chat(msgs)
    else:
        if args.system:
            raise WebinferError("--system needs --chat")
        prompt = args.prompt
    gen = model.generate(prompt, **_sampling(args, model), **_constraint(args))
    if args.json:
        for _ in _iterate(gen):
            pass
        print(json.dumps(gen.result.to_dict(), ensure_ascii=False))
    else:
        for delta in _iterate(gen):
            sys.stdout.write(delta)
            sys.stdout.flush()
        sys.stdout.write("\n")
    return 0


def cmd_chat(args) -> int:
    model = _load(args)
    session = model.chat(system=args.system, **_sampling(args, model))
    print("webinfer chat: type a message; /help lists the commands; Ctrl-C stops an answer, "
          "and at the prompt leaves.", file=sys.stderr)
    while True:
        try:
            text = input("> ")
        except (EOFError, KeyboardInterrupt):   # Ctrl-D, or Ctrl-C at the prompt: leave
            print(file=sys.stderr)
            return 0
        line = text.strip()
        if not line:
            continue
        if line.startswith("/") and not line.startswith("//"):
            if _chat_command(session, line) == "quit":
                return 0
            continue
        try:
            _answer(session, line[1:] if line.startswith("//") else text)
        except WebinferError as e:          # e.g. a message too long for the context: the chat goes on
            print(f"webinfer: error: {e}", file=sys.stderr)


# The chat's slash commands: name -> (argument, what it does). A line starting with "//" is sent
# to the model with one "/" removed.
CHAT_COMMANDS = {
    "/help": ("", "list these commands"),
    "/new": ("", "start a new chat (the system message stays)"),
    "/system": ("[TEXT]", "set the system message for the next answers; alone: show it"),
    "/quit": ("", "leave (also /exit, Ctrl-D, or Ctrl-C at the prompt)"),
}


def _chat_command(session, line: str) -> str | None:
    """Run one slash command; "quit" when the chat should end. An unknown one gets the help."""
    name, _, arg = line.partition(" ")
    arg = arg.strip()
    if name in ("/quit", "/exit"):
        return "quit"
    if name == "/new":
        session.reset()
        print("(new chat: the conversation so far is forgotten)", file=sys.stderr)
    elif name == "/system":
        if arg:
            session.system = arg
            print("(system message set)", file=sys.stderr)
        else:
            print(f"(system message: {session.system!r})" if session.system else "(no system message)",
                  file=sys.stderr)
    else:
        if name != "/help":
            print(f"unknown command {name}", file=sys.stderr)
        width = max(len(f"{c} {a}") for c, (a, _) in CHAT_COMMANDS.items())
        for c, (a, what) in CHAT_COMMANDS.items():
            print(f"  {f'{c} {a}':<{width}}  {what}", file=sys.stderr)
        print("  a line starting with // is sent to the model with one / removed", file=sys.stderr)
    return None


def _answer(session, text: str) -> None:
    """Stream one answer. Ctrl-C cancels it (it ends at the next token, finish reason
    "cancelled"); a second Ctrl-C before it has ended leaves the chat."""
    interrupts = 0

    def on_sigint(signum, frame):
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            raise KeyboardInterrupt
        session.cancel()
    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:      # not the main thread (main() called from a thread): Ctrl-C is not ours
        previous = None
    try:
        for delta in iterate_sync(session.send(text)):
            sys.stdout.write(delta)
            sys.stdout.flush()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    sys.stdout.write("\n")
    sys.stdout.flush()
    c = session.last
    print(f"[{c.completion_tokens} tokens, {c.decode_tok_s:.1f} tok/s, {c.finish_reason}]", file=sys.stderr)


def cmd_info(args) -> int:
    from .info import describe
    info = describe(args.file)
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=1, default=str))
    else:
        for k, v in info.items():
            if isinstance(v, dict):
                v = ", ".join(f"{a}: {b}" for a, b in v.items())
            print(f"{k:>22}: {v}")
    return 0


def cmd_bench(args) -> int:
    from .bench import run_bench
    res = run_bench(args.model, args.device, args.prompt_tokens, args.decode_tokens, hf_baseline=not args.no_hf,
                    print_fn=(lambda *x: None) if args.json else print)
    if args.json:
        print(json.dumps(res, indent=1, default=str))
    return 0


def cmd_quantize(args) -> int:
    from .quantize import quantize_gguf
    chosen = quantize_gguf(args.input, args.output, args.type)
    counts: dict[str, int] = {}
    for t in chosen.values():
        counts[t] = counts.get(t, 0) + 1
    print(f"webinfer: wrote {args.output}: " + ", ".join(f"{n} {t}" for t, n in sorted(counts.items())), file=sys.stderr)
    return 0


def cmd_embed(args) -> int:
    from .embed import load_embedder
    emb = load_embedder(args.model, device=args.device)
    if not args.quiet:
        print(f"webinfer: {emb.config.name} (dim {emb.dim}, max_length {emb.max_length}) on "
              f"{emb.device.description}", file=sys.stderr)
    vecs = emb.embed(args.texts, batch_size=args.batch_size)
    for text, v in zip(args.texts, vecs):
        if args.json:
            print(json.dumps({"text": text, "ids": emb.tokenize(text), "embedding": [float(x) for x in v]},
                             ensure_ascii=False))
        else:
            print(" ".join(f"{x:.6g}" for x in v))
    return 0


def _iterate(gen):
    return iterate_sync(gen.__aiter__())


if __name__ == "__main__":
    sys.exit(main())
