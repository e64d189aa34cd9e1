#!/usr/bin/env python3
"""Where retrieved chunks go in the prompt: the system message (webinfer.rag.grounded_messages, what
the library and the page use) or the user's turn (the page's former builder: excerpts, then
"Question: ..."), compared on made-up facts with the chat model, greedy.

    python3 bench/rag_placement.py [--model GGUF] [--k 1 2 4]

Nine questions over seven one-sentence documents (made-up names, numbers and places: the model
cannot know them), each asked with the top k chunks all-MiniLM-L6-v2 retrieves, in both placements;
an answer is right when it contains the expected word. Prints each answer and the totals.
Not a test: the numbers go to bench/log/runs.md, the verdict to docs/rag.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pkg"))

DOCS = {
    "zubrowka.txt": "Zubrowka is a small mountain republic in central Europe. The capital of Zubrowka is Lutz, "
                    "a spa town on the river Nebelsbad. Lutz has about forty thousand inhabitants.",
    "bakery.txt": "The bakery on Mill Street opens at six in the morning. Its rye bread is baked in a wood-fired "
                  "oven and sells out by noon.",
    "comet.txt": "Comet Hallebrand returns every 83 years. It was last seen in 1990 and is named after the "
                 "astronomer who first computed its orbit.",
    "island.txt": "The lighthouse keeper on Skerry Island is named Oswin Tamberlake and paints his boat teal.",
    "bananas.txt": "Bananas are berries, botanically, while strawberries are not.",
    "robot.txt": "The robot Kestrel-9 was built in Tallinn in 2031 and weighs 412 kilograms.",
    "lake.txt": "Lake Morvane is 212 metres deep, the deepest lake in the province of Ostrel.",
}
QA = [("What is the capital of Zubrowka?", "Lutz"),
      ("Who keeps the lighthouse on Skerry Island?", "Oswin"),
      ("What colour does the lighthouse keeper paint his boat?", "teal"),
      ("How often does Comet Hallebrand return?", "83"),
      ("When does the bakery on Mill Street open?", "six"),
      ("Where was the robot Kestrel-9 built?", "Tallinn"),
      ("How much does Kestrel-9 weigh?", "412"),
      ("How deep is Lake Morvane?", "212"),
      ("In which province is Lake Morvane?", "Ostrel")]
# The page's former prompt (site/py/grounding.py until it used the library's builder)
PREAMBLE = ("Answer the question using the excerpts from the user's documents below when they are "
            "relevant; say so when they do not contain the answer.\n\n")


def in_user_turn(question: str, hits: list) -> list[dict]:
    parts = "".join("[{}] {}:\n{}\n\n".format(i + 1, h.doc_name, h.chunk.text.strip()) for i, h in enumerate(hits))
    return [{"role": "user", "content": PREAMBLE + parts.rstrip() + "\n\nQuestion: " + question}]


def main() -> None:
    import webinfer
    from webinfer.rag import Retriever, Store, grounded_messages
    from webinfer.sources import default_model_path
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(default_model_path()))
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    model = webinfer.load(args.model, device="numpy")
    kb = Retriever(Store.open(":memory:"), webinfer.load_embedder(device="numpy"))
    for name, text in DOCS.items():
        kb.add(name, text)
    right = {}
    for k in args.k:
        for question, want in QA:
            hits = kb.retrieve(question, k=k)
            system, _ = grounded_messages(model, [{"role": "user", "content": question}], hits)
            for label, msgs in (("system", system), ("user", in_user_turn(question, hits))):
                out = model.create_chat_completion(msgs, temperature=0, max_tokens=24)["choices"][0]["message"]["content"]
                ok = want.lower() in out.lower()
                right[label, k] = right.get((label, k), 0) + ok
                print(f"k={k} {label:6} {'right' if ok else 'wrong'} {question!r} -> {out!r}", flush=True)
    for k in args.k:
        print(f"k={k}: system message {right['system', k]}/{len(QA)}, user turn {right['user', k]}/{len(QA)}")


if __name__ == "__main__":
    main()
