"""Per-entry results of SQS's batch answers (pure): an entry the answer names neither as
successful nor as failed is not taken for done."""

from __future__ import annotations

from bus.aws.sqs import NO_RESULT, EntryFailure, _by_receipt

RECEIPTS = ["r0", "r1", "r2"]


def test_failed_entries_are_named_by_receipt_and_successful_ones_are_not() -> None:
    answer = {
        "Successful": [{"Id": "0"}, {"Id": "2"}],
        "Failed": [{"Id": "1", "Code": "InternalError", "SenderFault": False, "Message": "x"}],
    }
    assert _by_receipt(RECEIPTS, answer) == {"r1": EntryFailure("InternalError", False, "x")}


def test_an_entry_the_answer_does_not_name_is_a_failure_without_a_result() -> None:
    answer = {
        "Successful": [{"Id": "0"}],
        "Failed": [{"Id": "2", "Code": "ReceiptHandleIsInvalid", "SenderFault": True}],
    }
    failed = _by_receipt(RECEIPTS, answer)
    assert failed["r1"] is NO_RESULT
    assert failed["r2"].code == "ReceiptHandleIsInvalid"
    assert "r0" not in failed


def test_an_empty_answer_fails_every_entry() -> None:
    assert _by_receipt(RECEIPTS, {}) == dict.fromkeys(RECEIPTS, NO_RESULT)
