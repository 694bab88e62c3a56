"""Ranking pages from dense and keyword candidates (engine/retrieval/search.py)."""

from __future__ import annotations

from engine.retrieval.search import KEYWORD_WEIGHT, SECOND_CHUNK_WEIGHT, rank_pages

# chunk id -> (document id, page)
UNITS = {1: (1, 1), 2: (1, 1), 3: (1, 2), 4: (2, 1), 5: (2, 2)}


def test_meaning_and_words_count_where_they_meet_in_one_passage() -> None:
    # Page (1, 2): one passage means the question and has its rare words. Page (1, 1): one
    # passage means it a little better, and another, about something else, has the words.
    dense = [(1, 0.62), (3, 0.60), (2, 0.30)]
    keyword = [(3, -8.0), (2, -8.0)]
    ranked = rank_pages(dense, keyword, UNITS)
    assert ranked[0] == ((1, 2), 0.60 + KEYWORD_WEIGHT * 1.0, 3)
    assert ranked[1] == ((1, 1), 0.62, 1)


def test_a_keyword_match_alone_does_not_outrank_a_clearly_better_meaning() -> None:
    dense = [(3, 0.80), (4, 0.30)]
    keyword = [(5, -9.0)]
    ranked = rank_pages(dense, keyword, UNITS)
    assert ranked[0][0] == (1, 2)
    # The keyword-only page takes the lowest similarity seen as its dense part.
    assert dict((u, s) for u, s, _ in ranked)[(2, 2)] == 0.30 + KEYWORD_WEIGHT


def test_the_passage_of_a_page_is_its_best_chunk() -> None:
    dense = [(1, 0.50), (2, 0.45)]
    keyword = [(2, -5.0)]
    ranked = rank_pages(dense, keyword, UNITS)
    assert len(ranked) == 1
    assert ranked[0][2] == 2  # 0.45 + weight beats 0.50 alone


def test_chunks_removed_since_the_ranking_are_left_out() -> None:
    assert rank_pages([(9, 0.9), (1, 0.5)], [], UNITS) == [((1, 1), 0.5, 1)]


def test_a_page_that_answers_twice_outranks_one_that_answers_once_as_well() -> None:
    # Pages (1, 1) and (1, 2) have the same best chunk; (1, 1) has a second strong one.
    dense = [(3, 0.70), (1, 0.70), (2, 0.65), (4, 0.20)]
    ranked = rank_pages(dense, [], UNITS)
    assert [unit for unit, _, _ in ranked][:2] == [(1, 1), (1, 2)]
    assert ranked[0][1] == 0.70 + SECOND_CHUNK_WEIGHT * (0.65 - 0.20)
