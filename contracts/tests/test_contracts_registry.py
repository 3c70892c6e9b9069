from contracts.common import AuditProfile
from contracts.profile import PROFILE_KEYS, body_keys
from contracts.registry import EVENT_MODELS
from contracts.status import BADGE_LABELS, DROPDOWN_LABELS, LeadStatus
from contracts.topics import ALL_TOPICS, TOPIC_BY_EVENT_TYPE


def test_every_event_has_exactly_one_topic_named_after_its_producer() -> None:
    assert set(EVENT_MODELS) == set(TOPIC_BY_EVENT_TYPE)
    for name, model in EVENT_MODELS.items():
        topic = TOPIC_BY_EVENT_TYPE[name]
        assert topic.producer == model.PRODUCER
        assert topic.name.startswith(f"{model.PRODUCER}.") and topic.name.endswith(".v1")
        assert topic.dlq == f"{topic.name}.dlq"
    assert len({t.name for t in ALL_TOPICS}) == len(ALL_TOPICS)


def test_profile_model_has_exactly_the_18_keys() -> None:
    assert len(PROFILE_KEYS) == 18
    assert tuple(AuditProfile.model_fields) == PROFILE_KEYS


def test_body_keys_cover_aliases_and_every_step() -> None:
    assert body_keys(1) == ("email_subject", "email_body", "email_cta", "email_subject_1", "email_body_1", "email_cta_1")
    assert "email_cta_3" in body_keys(3) and "email_cta_4" not in body_keys(3)


def test_label_sets_match_the_seed() -> None:
    assert BADGE_LABELS[LeadStatus.AUDIT_COMPLETE] == "Audited"
    assert BADGE_LABELS[LeadStatus.EMAIL_GENERATED] == "Email Ready"
    assert BADGE_LABELS[LeadStatus.SENT_LEGACY] == "Sent (legacy)"
    assert DROPDOWN_LABELS[LeadStatus.AUDIT_QUEUED] == "audit queued"
    assert LeadStatus.SENT_LEGACY not in DROPDOWN_LABELS
    assert len(DROPDOWN_LABELS) == 10
