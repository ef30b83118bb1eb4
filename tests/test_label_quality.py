"""Confident learning finds labels flipped on purpose; the consensus gives each model one vote."""

import numpy as np
import pytest

from mnist_study.analysis.label_quality import (
    accuracy_without,
    confident_counts,
    consensus_probabilities,
    disagreements,
    label_issues,
)


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


def _label_smoothed_votes(rng, labels, strength, models=3):
    """Probabilities of `models` label-smoothed classifiers: 0.9 x softmax + 0.01, so none exceeds 0.91."""
    votes = []
    for _ in range(models):
        logits = rng.normal(0, 1, (len(labels), 10))
        logits[np.arange(len(labels)), labels] += strength
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        votes.append(0.9 * exp / exp.sum(axis=1, keepdims=True) + 0.01)
    return votes


def test_calibration_lets_confident_learning_find_flipped_labels_that_smoothing_hides():
    from mnist_study.analysis.evaluation import apply_temperature, fit_temperature

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 10, 5000)
    strength = rng.uniform(3, 9, len(truth))
    flipped = np.sort(rng.choice(len(truth), 100, replace=False))
    strength[flipped] = rng.uniform(3, 5, len(flipped))  # a mislabelled image is seldom the clearest of its class
    given = truth.copy()
    given[flipped] = (truth[flipped] + rng.integers(1, 10, len(flipped))) % 10
    validation_labels = rng.integers(0, 10, 3000)
    validation_votes = _label_smoothed_votes(rng, validation_labels, rng.uniform(3, 9, 3000))
    test_votes = _label_smoothed_votes(rng, truth, strength)
    temperatures = [fit_temperature(validation_labels, votes) for votes in validation_votes]
    assert all(temperature < 0.5 for temperature in temperatures)  # underconfident: sharpened

    def found(votes):
        suspects = {issue["index"] for issue in label_issues(given, consensus_probabilities(dict(enumerate(votes))))}
        hits = len(suspects & set(flipped.tolist()))
        return hits / len(flipped), hits / max(1, len(suspects))

    raw_recall, _ = found(test_votes)
    recall, precision = found([apply_temperature(votes, t) for votes, t in zip(test_votes, temperatures, strict=True)])
    assert raw_recall < 0.35  # the raw path misses most flipped labels
    assert recall >= 0.7 and precision >= 0.9
    raw_counts = confident_counts(given, consensus_probabilities(dict(enumerate(test_votes))))
    assert raw_counts["highest_other_class_probability"] <= 0.91 and len(raw_counts["thresholds"]) == 10


def test_every_disagreement_is_ranked_by_label_quality():
    labels = np.array([0, 0, 1, 1, 2])
    probabilities = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1],
                              [0.1, 0.5, 0.4]])
    ranked = disagreements(labels, probabilities)
    # Disputed: images 1 (given 0, p=0.2), 3 (given 1, p=0.3) and 4 (given 2, p=0.4); lowest score first.
    assert [issue["index"] for issue in ranked] == [1, 3, 4]
    assert ranked[0] == {"index": 1, "given_label": 0, "suggested_label": 1, "score": 0.2}
    with pytest.raises(ValueError, match=r"probabilities: expected shape \(5, classes\)"):
        disagreements(labels, probabilities[:3])
