"""Measuring trained models: FVD reports, digit scores, drawn grids of videos."""

from keras_videogpt.evaluation.draw import draw_videos
from keras_videogpt.evaluation.report import PROTOCOLS, evaluate, format_report
from keras_videogpt.evaluation.scores import score_models

__all__ = ["PROTOCOLS", "draw_videos", "evaluate", "format_report", "score_models"]
