"""Surveys, survey definitions, single responses, imports and distributions (qualtrics-api.md §7, §9).

Bodies are written from the fact sheet's field lists; where it gives none (survey-definition
results, versions, quotas) they follow the QSF field names of §7.3 and the emulator's
documented choices (``qualtrics_async/testing/_survey_api.py``).
"""

from __future__ import annotations

from qualtrics_async.models import distributions as dist
from qualtrics_async.models import responses as resp
from qualtrics_async.models import surveys as surv

_QUESTION = {
    "QuestionID": "QID1",
    "QuestionText": "How likely are you to recommend us?",
    "QuestionType": "MC",
    "Selector": "SAVR",
    "SubSelector": "TX",
    "DataExportTag": "Q1",
    "QuestionDescription": "How likely are you to recommend us?",
    "Choices": {"1": {"Display": "Likely"}, "2": {"Display": "Unlikely"}},
    "ChoiceOrder": [1, 2],
    "Validation": {"Settings": {"ForceResponse": "OFF", "Type": "None"}},
    "Configuration": {"QuestionDescriptionOption": "UseText"},
    "Language": [],
}
_BLOCK = {
    "Type": "Default",
    "Description": "Default Question Block",
    "ID": "BL_1234567890abcde",
    "BlockElements": [{"Type": "Question", "QuestionID": "QID1"}],
}
_FLOW = {
    "FlowID": "FL_1",
    "Type": "Root",
    "Flow": [{"Type": "Block", "ID": "BL_1234567890abcde", "FlowID": "FL_2"}],
    "Properties": {"Count": 2},
}
_HEADER = {"fromEmail": "team@example.com", "fromName": "Team", "replyToEmail": "reply@example.com", "subject": "Hi"}
_MESSAGE = {"libraryId": "UR_1234567890abcde", "messageId": "MS_1234567890abcde"}

EXAMPLES: list[tuple[type, object]] = [
    # §7.3 surveys
    (
        surv.SurveySummary,
        {
            "id": "SV_1234567890abcde",
            "name": "Pulse",
            "ownerId": "UR_1234567890abcde",
            "lastModified": "2024-03-01T10:00:00Z",
            "creationDate": "2024-01-01T10:00:00Z",
            "isActive": True,
        },
    ),
    (surv.SurveyCreated, {"id": "SV_1234567890abcde"}),
    (
        surv.SurveyUpdate,
        {
            "name": "Pulse 2024",
            "isActive": True,
            "expiration": {"startDate": "2024-01-01T00:00:00Z", "endDate": "2024-12-31T00:00:00Z"},
            "ownerId": "UR_1234567890abcde",
        },
    ),
    # §7.3 survey definitions
    (surv.NewSurveyDefinition, {"SurveyName": "Pulse", "Language": "EN", "ProjectCategory": "CORE"}),
    (surv.SurveyDefinitionCreated, {"SurveyID": "SV_1234567890abcde", "DefaultBlockID": "BL_1234567890abcde"}),
    (
        surv.DefinitionMetadata,
        {
            "SurveyName": "Pulse",
            "SurveyDescription": "Quarterly pulse",
            "SurveyStatus": "Active",
            "SurveyStartDate": "2024-01-01 00:00:00",
            "SurveyExpirationDate": "2024-12-31 23:59:59",
        },
    ),
    (surv.Question, _QUESTION),
    (surv.QuestionCreated, {"QuestionID": "QID2"}),
    (surv.Block, _BLOCK),
    (surv.BlockCreated, {"BlockID": "BL_abcde1234567890", "FlowID": "FL_3"}),
    (surv.SurveyFlow, _FLOW),
    (
        surv.SurveyDefinition,
        {  # the layout recorded from live tenants (docs/fidelity.md)
            "SurveyID": "SV_1234567890abcde",
            "SurveyName": "Pulse",
            "SurveyStatus": "Inactive",
            "OwnerID": "UR_1234567890abcde",
            "CreatorID": "UR_1234567890abcde",
            "BrandID": "acme",
            "BrandBaseURL": "https://acme.qualtrics.com",
            "LastModified": "2024-03-01T10:00:00Z",
            "LastAccessed": None,
            "LastActivated": None,
            "QuestionCount": "1",
            "ProjectInfo": {"SurveyID": "SV_1234567890abcde", "ProjectCategory": "CORE", "ProjectType": None},
            "Questions": {"QID1": _QUESTION},
            "Blocks": {"BL_1234567890abcde": _BLOCK},
            "SurveyFlow": _FLOW,
            "SurveyOptions": {
                "BackButton": "false",
                "SurveyProtection": "PublicSurvey",
                "SurveyLanguage": "EN",
                "SurveyCreationDate": "2024-01-01T10:00:00Z",
            },
            "ResponseSets": {"RS_1234567890abcde": "Default Response Set"},
            "Scoring": {"ScoringCategories": [], "ScoringCategoryGroups": []},
        },
    ),
    (surv.NewVersion, {"Description": "First release", "Published": True}),
    (
        surv.SurveyVersion,
        {
            "VersionID": "9223370000000000001",
            "VersionNumber": 1,
            "Description": "First release",
            "UserID": "UR_1234567890abcde",
            "CreationDate": "2024-03-01T10:00:00Z",
            "Published": True,
        },
    ),
    (surv.Quota, {"Name": "Max 100", "Occurrences": 100, "ID": "QO_1234567890abcde", "Count": 0}),
    (surv.QuotaCreated, {"QuotaID": "QO_1234567890abcde"}),
    # §7.1 single responses
    (
        resp.SingleResponse,
        {
            "responseId": "R_1234567890abcde",
            "values": {"startDate": "2024-03-01T10:00:00Z", "finished": 1, "QID1": 1},
            "labels": {"QID1": "Likely"},
            "displayedFields": ["QID1"],
            "displayedValues": {"QID1": [1, 2]},
        },
    ),
    (
        resp.NewResponse,
        {"values": {"QID1": 1, "finished": 1, "distributionChannel": "anonymous", "userLanguage": "EN"}},
    ),
    (resp.ResponseCreated, {"responseId": "R_1234567890abcde"}),
    (
        resp.EmbeddedDataUpdate,
        {"surveyId": "SV_1234567890abcde", "embeddedData": {"segment": "b2b"}, "resetRecordedDate": False},
    ),
    (
        resp.ResponseSchema,
        {
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": "https://iad1.qualtrics.com/API/v3/surveys/SV_1234567890abcde/response-schema",
            "title": "Pulse",
            "type": "object",
            "properties": {"values": {"type": "object", "properties": {}}},
        },
    ),
    # §7.2 imports
    (resp.ImportProgress, {"percentComplete": 100.0, "status": "complete"}),
    # §9 distributions
    (
        dist.Distribution,
        {
            "id": "EMD_1234567890abcde",
            "parentDistributionId": None,
            "ownerId": "UR_1234567890abcde",
            "organizationId": "acme",
            "requestStatus": "Done",
            "requestType": "Invite",
            "sendDate": "2024-03-01T10:00:00Z",
            "createdDate": "2024-02-28T10:00:00Z",
            "modifiedDate": "2024-02-28T10:00:00Z",
            "headers": {
                "fromEmail": "team@example.com",
                "replyToEmail": "r@example.com",
                "fromName": "Team",
                "subject": "Hi",
            },
            "recipients": {
                "mailingListId": "CG_1234567890abcde",
                "contactId": None,
                "libraryId": None,
                "sampleId": None,
            },
            "message": {
                "libraryId": "UR_1234567890abcde",
                "messageId": "MS_1234567890abcde",
                "messageText": None,
                "messageType": "Invite",
            },
            "surveyLink": {"surveyId": "SV_1234567890abcde", "expirationDate": None, "linkType": "Individual"},
            "stats": {
                "sent": 10,
                "failed": 0,
                "started": 4,
                "bounced": 1,
                "opened": 6,
                "skipped": 0,
                "finished": 3,
                "complaints": 0,
                "blocked": 0,
            },
            "embeddedData": {"wave": "1"},
        },
    ),
    (
        dist.EmailDistribution,
        {
            "message": _MESSAGE,
            "recipients": {"mailingListId": "CG_1234567890abcde"},
            "header": _HEADER,
            "surveyLink": {
                "surveyId": "SV_1234567890abcde",
                "expirationDate": "2024-12-31T00:00:00Z",
                "type": "Individual",
            },
            "embeddedData": {"wave": "1"},
            "sendDate": "2024-03-01T10:00:00Z",
        },
    ),
    (
        dist.GenerateLinks,
        {
            "surveyId": "SV_1234567890abcde",
            "linkType": "Individual",
            "description": "Panel links",
            "action": "CreateDistribution",
            "expirationDate": "2024-12-31T00:00:00Z",
            "mailingListId": "CG_1234567890abcde",
        },
    ),
    (dist.DistributionCreated, {"id": "EMD_1234567890abcde"}),
    (
        dist.DistributionLink,
        {
            "contactId": "CID_1234567890abcde",
            "transactionId": None,
            "link": "https://iad1.qualtrics.com/jfe/form/SV_1234567890abcde?Q_DL=abc",
            "exceededContactFrequency": False,
            "linkExpiration": "2024-12-31T00:00:00Z",
            "status": "Email not sent",
            "lastName": "Doe",
            "firstName": "Jane",
            "externalDataReference": "EXT-1",
            "email": "jane@example.com",
            "unsubscribed": False,
        },
    ),
    (
        dist.DistributionHistoryEntry,
        {
            "contactId": "CID_1234567890abcde",
            "contactLookupId": "CGC_1234567890abcde",
            "distributionId": "EMD_1234567890abcde",
            "status": "Success",
            "surveyLink": "https://iad1.qualtrics.com/jfe/form/SV_1234567890abcde",
            "contactFrequencyRuleId": None,
            "responseId": "R_1234567890abcde",
            "responseCompletedAt": "2024-03-02T10:00:00Z",
            "sentAt": "2024-03-01T10:00:00Z",
            "openedAt": "2024-03-01T12:00:00Z",
            "responseStartedAt": "2024-03-02T09:55:00Z",
            "surveySessionId": None,
        },
    ),
    (
        dist.FollowUp,
        {"message": _MESSAGE, "header": _HEADER, "embeddedData": {"wave": "2"}, "sendDate": "2024-03-08T10:00:00Z"},
    ),
    (dist.FollowUpCreated, {"distributionId": "EMD_abcde1234567890"}),
    (
        dist.NewSmsDistribution,
        {
            "sendDate": "2024-03-01T10:00:00Z",
            "method": "Invite",
            "surveyId": "SV_1234567890abcde",
            "name": "SMS wave",
            "recipients": {"mailingListId": "CG_1234567890abcde", "contactId": "CID_1234567890abcde"},
            "message": {"messageText": "Take our survey"},
        },
    ),
    (
        dist.SmsDistribution,
        {
            "id": "SMSD_1234567890abcde",
            "name": "SMS wave",
            "method": "Invite",
            "surveyId": "SV_1234567890abcde",
            "sendDate": "2024-03-01T10:00:00Z",
            "recipients": {"mailingListId": "CG_1234567890abcde"},
            "message": {"libraryId": "UR_1234567890abcde", "messageId": "MS_1234567890abcde"},
        },
    ),
]
