"""Sentence boundaries measured on gold sentences written by others (UD French-GSD)."""

from __future__ import annotations

from pathlib import Path

from datapaths import data_file

from service.cli import main
from service.measure.segmentation_eval import (
    evaluate_gold_sentences,
    moses_splitter,
    naive_split,
    passeur_splitter,
    read_conllu_sentences,
)
from service.text.segmentation import split_sentences

CONLLU = """# sent_id = a
# text = Il est parti. Elle est restée.
1\tIl\til\tPRON\t_\t_\t2\tnsubj\t_\t_

# sent_id = b
# text = Le plan B. Marie l'a dit.
1\tLe\tle\tDET\t_\t_\t2\tdet\t_\t_

# sent_id = c
# text = « Oui ! » dit-il.
1\tOui\toui\tINTJ\t_\t_\t0\troot\t_\t_
"""


def test_gold_counts_are_exact(tmp_path: Path) -> None:
    path = tmp_path / "mini.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    gold = read_conllu_sentences(path)
    assert gold == [
        "Il est parti. Elle est restée.",
        "Le plan B. Marie l'a dit.",
        "« Oui ! » dit-il.",
    ]
    [passeur, naive] = evaluate_gold_sentences(
        gold, {"passeur": passeur_splitter("fr"), "naive": naive_split}, per_paragraph=3
    )
    # Two boundaries, both visible; the first gold sentence holds a real sentence end and
    # "plan B. Marie" another: both splitters cut there, the naive one at "B." too.
    assert (passeur.boundaries, passeur.visible, passeur.visible_found) == (2, 2, 2)
    assert passeur.inner_cuts == 1 and naive.inner_cuts == 2
    assert naive.inner[-1].endswith("Le plan B. | Marie l'a dit. « Oui ! » dit-il.")


def test_a_spaced_straight_quote_on_the_other_side_still_finds_the_boundary() -> None:
    gold = ["Il a été condamné à cinq ans.", '" Je lui ai parlé hier.']
    [report] = evaluate_gold_sentences(gold, {"passeur": passeur_splitter("fr")})
    assert (report.visible_found, report.inner_cuts, report.quote_moved) == (1, 0, 1)


def test_a_spaced_straight_quote_opens_when_the_quotes_balance() -> None:
    text = 'Le ministre est arrivé. " Nous allons gagner. " Il est reparti.'
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "Le ministre est arrivé.",
        '" Nous allons gagner. "',
        "Il est reparti.",
    ]


def test_ud_french_gsd_targets() -> None:
    """Recall of visible gold boundaries >= 99.9 %, no more inner cuts than Moses."""
    gold = [
        s
        for name in ("fr_gsd-ud-dev.conllu", "fr_gsd-ud-test.conllu")
        for s in read_conllu_sentences(data_file(f"ud_french_gsd/{name}"))
    ]
    ours, moses = evaluate_gold_sentences(
        gold, {"passeur": passeur_splitter("fr"), "moses": moses_splitter("fr")}
    )
    assert ours.sentences == 1892 and ours.visible > 1500
    assert ours.recall >= 0.999, ours.misses
    assert ours.inner_cuts <= moses.inner_cuts, ours.inner


def test_cli_prints_three_splitters(capsys) -> None:
    data_file("ud_french_gsd/fr_gsd-ud-dev.conllu")
    assert main(["eval", "segmentation", "--data", "ud", "-v"]) == 0
    out = capsys.readouterr().out
    for name in ("| passeur |", "| moses (sentence-splitter) |", "| naive regex |"):
        assert name in out
    assert "missed visible boundaries" in out and "cuts inside gold sentences" in out
