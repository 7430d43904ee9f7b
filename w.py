import torch


def solve(scores, keep):
    return scores.masked_fill(~keep, float('-inf'))
