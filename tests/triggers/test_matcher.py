"""The local EventBridge matcher, and the project's patterns against AWS-shaped events.

The same pairs are replayed through moto's EventBridge in tests/aws/test_triggers_patterns.py.
"""

from __future__ import annotations

import pytest
from trigger_samples import AWS_ACCOUNT, EXPECTED, NAMES, load_sample, near_misses

from pipelines.eventbridge.matcher import PatternError, matches
from pipelines.eventbridge.patterns import approval_rule, data_arrival_rule, notification_rules

EVENT = {
    "source": "aws.s3",
    "detail-type": "Object Created",
    "resources": ["arn:aws:s3:::a", "arn:aws:s3:::b"],
    "detail": {
        "object": {"key": "in/2024/x.csv", "size": 1024},
        "flag": True,
        "empty": None,
        "tags": [],
    },
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["aws.s3"]}, True),
        ({"source": ["aws.sqs", "aws.s3"]}, True),
        ({"source": ["aws.sqs"]}, False),
        ({"missing": ["x"]}, False),
        ({"resources": ["arn:aws:s3:::b"]}, True),  # any array element
        ({"detail": {"object": {"key": [{"prefix": "in/"}]}}}, True),
        ({"detail": {"object": {"key": [{"prefix": "out/"}]}}}, False),
        ({"detail": {"object": {"key": [{"suffix": ".csv"}]}}}, True),
        ({"detail": {"object": {"key": [{"equals-ignore-case": "IN/2024/X.CSV"}]}}}, True),
        ({"detail": {"object": {"key": [{"anything-but": ["in/2024/x.csv"]}]}}}, False),
        ({"detail": {"object": {"key": [{"anything-but": "other"}]}}}, True),
        ({"detail": {"object": {"key": [{"anything-but": {"prefix": "in/"}}]}}}, False),
        ({"detail": {"object": {"nope": [{"anything-but": ["x"]}]}}}, False),  # needs the field
        ({"detail": {"object": {"size": [{"numeric": [">", 1000, "<=", 1024]}]}}}, True),
        ({"detail": {"object": {"size": [{"numeric": ["<", 1000]}]}}}, False),
        ({"detail": {"object": {"size": [1024.0]}}}, True),
        ({"detail": {"object": {"size": ["1024"]}}}, False),  # types matter
        ({"detail": {"object": {"etag": [{"exists": False}]}}}, True),
        ({"detail": {"object": {"key": [{"exists": True}]}}}, True),
        ({"detail": {"object": [{"exists": True}]}}, False),  # objects are not leaves
        ({"detail": {"flag": [True]}}, True),
        ({"detail": {"flag": [1]}}, False),
        ({"detail": {"empty": [None]}}, True),
        ({"detail": {"nested": {"deeper": [{"exists": False}]}}}, True),
    ],
)
def test_matcher_semantics(pattern, expected) -> None:
    assert matches(pattern, EVENT) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        {"$or": [{"source": ["x"]}]},
        {"source": [{"wildcard": "aws.*"}]},
        {"source": []},
        {"source": "aws.s3"},
        {"detail": {"object": {"size": [{"numeric": ["~", 1]}]}}},
    ],
)
def test_unsupported_or_malformed_patterns_raise_instead_of_mismatching(pattern) -> None:
    with pytest.raises(PatternError):
        matches(pattern, EVENT)


def project_rules(config):
    rules = {
        "data-arrival": data_arrival_rule(
            "retraining-test-bucket", "fraud-detection-retraining/incoming/"
        )
    }
    rules.update({r.purpose: r for r in notification_rules(config, AWS_ACCOUNT)})
    rules["model-approved"] = approval_rule(config)
    return rules


@pytest.mark.parametrize("name", NAMES)
def test_each_sample_event_triggers_exactly_its_rule(config, name) -> None:
    event = load_sample(name)
    matched = {
        purpose for purpose, rule in project_rules(config).items() if matches(rule.pattern, event)
    }
    assert matched == EXPECTED[name]


@pytest.mark.parametrize(("label", "event"), near_misses(), ids=[c[0] for c in near_misses()])
def test_near_misses_trigger_nothing(config, label, event) -> None:
    matched = [p for p, rule in project_rules(config).items() if matches(rule.pattern, event)]
    assert matched == [], label


@pytest.mark.parametrize("status", ["PendingManualApproval", "Rejected"])
def test_only_an_approval_deploys(config, status) -> None:
    """Pending and rejected versions notify (the model-package rule) but never deploy."""
    event = load_sample("model_package_approved")
    event["detail"]["ModelApprovalStatus"] = status
    rules = project_rules(config)
    assert matches(rules["model-package"].pattern, event)
    assert not matches(rules["model-approved"].pattern, event)
    assert not matches(rules["model-approved"].pattern, load_sample("model_package_registered"))
