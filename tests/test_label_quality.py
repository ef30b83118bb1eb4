"""Confident learning finds labels flipped on purpose; the consensus gives each model one vote."""

import numpy as np
import pytest

from mnist_study.analysis.label_quality import accuracy_without, consensus_probabilities, label_issues


def _crafted(n=2000, classes=10, flips=40, seed=0):
    """A model that is right and fairly sure on every image, and a label set with `flips` labels changed."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, size=n)
    logits = rng.normal(0, 1, size=(n, classes))
    logits[np.arange(n), truth] += 6.0  # confident and right, like the study's CNNs
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = truth.copy()
    flipped = rng.choice(n, size=flips, replace=False)
    labels[flipped] = (truth[flipped] + rng.integers(1, classes, size=flips)) % classes
    return labels, truth, probabilities, flipped


def test_flipped_labels_are_found_and_the_true_label_suggested():
    labels, truth, probabilities, flipped = _crafted()
    issues = label_issues(labels, probabilities)
    found = {issue["index"] for issue in issues}
    # Confident learning is conservative: it flags what its estimate of the noise rate allows (34 of the 40
    # here) and almost nothing else. Picking 40 images at random would hit one flipped label.
    assert len(found & set(flipped)) >= 0.8 * len(flipped)  # recall
    assert len(found & set(flipped)) >= 0.95 * len(found)  # precision
    for issue in issues:
        if issue["index"] in set(flipped):
            assert issue["given_label"] == labels[issue["index"]] and issue["suggested_label"] == truth[issue["index"]]
    scores = [issue["score"] for issue in issues]
    assert scores == sorted(scores)  # most suspect first
    assert scores[0] == pytest.approx(probabilities[issues[0]["index"], issues[0]["given_label"]])


def test_clean_labels_give_few_suspects():
    labels, truth, probabilities, _ = _crafted(flips=1)
    labels[:] = truth
    assert len(label_issues(labels, probabilities)) <= 5


def test_consensus_gives_each_model_one_vote():
    a = np.stack([np.full((3, 2), [1.0, 0.0]), np.full((3, 2), [0.0, 1.0])])  # two seeds: mean 0.5 / 0.5
    b = np.full((3, 2), [1.0, 0.0])  # one seed
    assert np.allclose(consensus_probabilities({"a": a, "b": b}), np.full((3, 2), [0.75, 0.25]))
    with pytest.raises(ValueError, match="models disagree on shape"):
        consensus_probabilities({"a": a, "c": np.ones((4, 2)) / 2})
    with pytest.raises(ValueError, match="expected at least one model"):
        consensus_probabilities({})


def test_accuracy_without_the_suspects():
    labels = np.array([0, 1, 2, 3])
    predictions = np.array([0, 1, 0, 0])
    assert accuracy_without(predictions, labels, []) == 0.5
    assert accuracy_without(predictions, labels, [2, 3]) == 1.0


def test_probabilities_must_match_the_labels():
    with pytest.raises(ValueError, match=r"probabilities: expected shape \(3, classes\)"):
        label_issues(np.array([0, 1, 0]), np.ones((4, 2)) / 2)
