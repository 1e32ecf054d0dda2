"""Scoring the columns: the held-out evaluation (facts, voice, staleness) and the speed benchmark."""
from .scoreboard import HELD_OUT, Question, evaluate, format_table, in_brand_voice, load_questions, parse_questions

__all__ = ["HELD_OUT", "Question", "evaluate", "format_table", "in_brand_voice", "load_questions", "parse_questions"]
