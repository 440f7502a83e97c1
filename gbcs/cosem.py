"""COSEM names for explanations: interface classes, attributes/methods, OBIS objects, result codes (data only).

Sources (facts, not code):
- Interface-class numbers and names: DLMS UA Blue Book, as listed by `SmartDCCInnovation/gbcs-parser:
  src/dlms.ts` (`parseDlmsCosemClassId`, incl. 9000 "GBCS Extended Data") — "UC" below.
- Attribute/method numbers and names: the "DLMS COSEM specific content" tables of the GBCS use cases
  (`HenryGiraldo/gbcs-parser-js: gbcs-use-cases.html`),
  completed from `src/dlms.ts` (which lists IC 104's five methods and IC 111/113 attributes in order).
- OBIS object names: the same use-case tables ("name" column, object part), for every object that RTDS 4.5.0
  DLMS payloads address, plus the CHF objects of RTDS CCS0x. Entries marked [I] are inferred from RTDS.
- Data-Access-Result / Action-Result codes: gbcs-parser src/dlms.ts (`src/dlms.ts` `parseDlmsDataAccessResult`,
  `parseDlmsActionResult`).
- IC 30 protection types and key-info types: `Gurux/gurux.dlms.python` enums `ProtectionType`,
  `DataProtectionKeyType`; GBCS uses 2/2 (`src/dlms.ts` `parseProtectionParameters`).
- Alert codes: `src/util.ts` `alertCodes` (the CHF ones and those of RTDS DLMS alerts only).
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------------------------
# Interface classes

CLASS_NAMES: dict[int, str] = {
    1: "Data",
    3: "Register",
    4: "Extended Register",
    7: "Profile Generic",
    8: "Clock",
    9: "Script Table",
    10: "Schedule",
    11: "Special Days Table",
    20: "Activity Calendar",
    21: "Register Monitor",
    22: "Single Action Schedule",
    30: "Data Protection",
    70: "Disconnect Control",
    71: "Limiter",
    104: "ZigBee Network Control",
    111: "Account",
    112: "Credit",
    113: "Charge",
    115: "Token Gateway",
    9000: "GBCS Extended Data",
}

# Attribute 1 of every class is logical_name (Blue Book; gbcs-parser's tables start at attribute 2 for that reason).
ATTRIBUTES: dict[int, dict[int, str]] = {
    1: {2: "value"},
    3: {2: "value", 3: "scaler_unit"},
    4: {2: "value", 3: "scaler_unit", 4: "status", 5: "capture_time"},
    7: {2: "buffer", 3: "capture_objects", 4: "capture_period", 5: "sort_method", 6: "sort_object",
        7: "entries_in_use", 8: "profile_entries"},
    8: {2: "time", 3: "time_zone", 4: "status", 5: "daylight_savings_begin", 6: "daylight_savings_end",
        7: "daylight_savings_deviation", 8: "daylight_savings_enabled", 9: "clock_base"},
    9: {2: "scripts"},
    10: {2: "entries"},
    11: {2: "entries"},
    20: {2: "calendar_name_active", 3: "season_profile_active", 4: "week_profile_table_active",
         5: "day_profile_table_active", 6: "calendar_name_passive", 7: "season_profile_passive",
         8: "week_profile_table_passive", 9: "day_profile_table_passive", 10: "activate_passive_calendar_time"},
    21: {2: "thresholds", 3: "monitored_value", 4: "actions"},
    22: {2: "executed_script", 3: "type", 4: "execution_time"},
    30: {2: "protection_buffer", 3: "protection_object_list", 4: "protection_parameters_get",
         5: "protection_parameters_set", 6: "required_protection"},
    70: {2: "output_state", 3: "control_state", 4: "control_mode"},
    71: {2: "monitored_value", 3: "threshold_active", 4: "threshold_normal", 5: "threshold_emergency",
         6: "min_over_threshold_duration", 7: "min_under_threshold_duration", 8: "emergency_profile",
         9: "emergency_profile_group_id_list", 10: "emergency_profile_active", 11: "actions"},
    104: {2: "enable_disable_joining", 3: "join_timeout", 4: "active_devices"},
    111: {2: "account_mode_and_status", 3: "current_credit_in_use", 4: "current_credit_status",
          5: "available_credit", 6: "amount_to_clear", 7: "clearance_threshold", 8: "aggregated_debt",
          9: "credit_reference_list", 10: "charge_reference_list", 11: "credit_charge_configuration",
          12: "token_gateway_configuration", 13: "account_activation_time", 14: "account_closure_time",
          15: "currency", 16: "low_credit_threshold", 17: "next_credit_available_threshold", 18: "max_provision",
          19: "max_provision_period"},
    112: {2: "current_credit_amount", 3: "credit_type", 4: "priority", 5: "warning_threshold", 6: "limit",
          7: "credit_configuration", 8: "credit_status", 9: "preset_credit_amount",
          10: "credit_available_threshold", 11: "period"},
    113: {2: "total_amount_paid", 3: "charge_type", 4: "priority", 5: "unit_charge_active", 6: "unit_charge_passive",
          7: "unit_charge_activation_time", 8: "period", 9: "charge_configuration", 10: "last_collection_time",
          11: "last_collection_amount", 12: "total_amount_remaining", 13: "proportion"},
    115: {2: "token", 3: "token_time", 4: "token_description", 5: "token_delivery_method", 6: "token_status"},
    9000: {2: "value_active", 3: "scaler_unit_active", 4: "value_passive", 5: "scaler_unit_passive",
           6: "activate_passive_value_time"},
}

METHODS: dict[int, dict[int, str]] = {
    3: {1: "reset"},
    4: {1: "reset"},
    7: {1: "reset", 2: "capture"},
    8: {1: "adjust_to_quarter", 2: "adjust_to_measuring_period", 3: "adjust_to_minute", 4: "adjust_to_preset_time",
        5: "preset_adjusting_time", 6: "shift_time"},
    9: {1: "execute"},
    20: {1: "activate_passive_calendar"},
    30: {1: "get_protected_attributes", 2: "set_protected_attributes", 3: "invoke_protected_method"},
    70: {1: "remote_disconnect", 2: "remote_reconnect"},
    104: {1: "register_device", 2: "unregister_device", 3: "unregister_all_devices", 4: "backup_PAN",
          5: "restore_PAN"},
    112: {1: "update_amount", 2: "set_amount_to_value", 3: "invoke_credit"},
    113: {1: "update_unit_charge", 2: "activate_passive_unit_charge", 3: "collect", 4: "update_total_amount_remaining"},
    115: {1: "enter"},
}

# Selective access (GET-with-selection): IC 7 profile generic (Blue Book; RTDS ECS35c uses 1, RTDS CCS0x).
SELECTORS: dict[int, dict[int, str]] = {7: {1: "range_descriptor", 2: "entry_descriptor"}}

# ---------------------------------------------------------------------------------------------------------------
# OBIS objects: 6-byte code -> name (use-case table "name" column; RTDS objects and the CHF objects of §4.3).


def _obis(text: str) -> bytes:
    ab, cdef = text.split(":")
    a, b = ab.split("-")
    return bytes(int(x) for x in (a, b, *cdef.split(".")))


_OBJECTS: dict[str, str] = {
    # CHF objects (RTDS CCS0x)
    "0-0:30.3.0.255": "DeviceLog(CHF)",
    "0-0:30.3.1.255": "HistoricDeviceLog(CHF)",
    "0-0:99.98.0.255": "EventLog (CHF / incGPF)",
    "0-0:99.98.1.255": "SecurityLog (CHF / notCHF)",
    "0-0:96.1.1.255": "Device ID (CHF EUI)",
    "0-0:96.1.4.255": "ModelType (CommsHub / SmartMeter)",
    "0-0:96.1.6.255": "ManufacturerIdentifier (CHManufacturerIdentifier)",
    "0-0:0.2.1.255": "FirmwareVersion",
    "0-0:94.44.10.0": "SubGHzConfigurationSettings",
    "0-0:94.44.10.1": "CHFSubGHzChannelScan",
    "0-0:94.44.10.2": "OperatingSubGHzChannel",
    "0-0:94.44.10.3": "SubGHzChannelLog",
    # IC 1 Data
    "0-0:94.44.0.0": "RandomisedOffset",
    "0-0:94.44.0.1": "RandomisedOffsetLimit",
    "0-0:94.44.0.2": "RandomisedOffsetNumber",
    "0-0:94.44.0.4": "SupplyTamperState",
    **{f"0-0:94.44.0.{10 * k + n}": f"AuxiliaryController[{n}]" for k in (1, 2, 3) for n in range(1, 6)},
    **{f"0-0:94.44.{116 + n}.{m}": f"AuxiliaryController[{n}]" for n in range(1, 6) for m in (1, 2)},
    **{f"0-0:94.44.{116 + n}.{m}": f"AuxiliaryProportionalController[{n}]" for n in range(1, 6) for m in (3, 4)},
    "0-0:94.44.3.1": "DisablePrivacyPinProtection",
    "0-0:94.44.3.2": "restrictDataDateTime",
    "0-0:94.44.5.0": "MaximumDemand(ConfigurableTime)ActivePowerImportValue",
    "0-0:94.44.5.1": "MaximumDemandActiveEnergyImportValue",
    "0-0:94.44.5.2": "MaximumDemandActivePowerExportValue",
    **{f"0-0:94.44.6.{n}": f"BoostFunctionControl[{n}]" for n in range(1, 6)},
    "0-0:94.44.7.255": "BoostFunctionAvailability",
    "0-0:94.44.34.1": "TariffTOURegisterCollection",
    "0-0:94.44.34.2": "TariffBlockTOURegisterCollection",
    "0-0:94.44.34.10": "ImportRegisterCollection",
    "0-0:94.44.34.11": "MeterPointAdministrationNumber(combinedMPANS)",
    "0-0:94.44.34.20": "PowerImportCollection",
    "0-0:94.44.34.30": "PrepaymentBalanceCollection",
    "0-0:96.1.2.255": "MeterVariant",
    "0-2:96.13.1.255": "SupplierMessage",
    "0-3:96.13.1.255": "CustomerIdentificationNumber",
    **{f"0-30:97.98.{n}.255": "Alerts Configuration Settings - Supplier" for n in (11, 12, 15, 16)},
    **{f"0-30:97.98.{n}.255": "Events Configuration Settings - Supplier" for n in (13, 14, 17, 18)},
    "0-33:97.98.11.255": "Alerts Configuration Settings - Network Operator",
    "0-33:97.98.15.255": "Alerts Configuration Settings - Network Operator",
    "0-33:97.98.14.255": "Events Configuration Settings - Network Operator",
    "0-33:97.98.18.255": "Events Configuration Settings - Network Operator",
    "1-0:0.0.2.255": "MeterPointAdministrationNumber(ExportMPAN)",
    **{f"1-0:{c}.31.0.4": f"(Phase[{p}])AverageRMSUnderVoltageThreshold" for p, c in ((1, 32), (2, 52), (3, 72))},
    **{f"1-0:{c}.35.0.4": f"(Phase[{p}])AverageRMSOverVoltageThreshold" for p, c in ((1, 32), (2, 52), (3, 72))},
    # IC 3 Register
    "0-0:94.44.1.7": "(Primary)ActiveTariffPrice",
    "0-0:94.44.1.8": "SecondaryActiveTariffPrice",
    "0-0:94.44.42.255": "LoadLimitCounter",
    "1-0:2.8.0.255": "ActiveExportRegister",
    "1-0:4.8.0.255": "ReactiveExportRegister",
    **{f"1-0:{c}.32.0.4": f"(Phase[{p}])AverageRMSUnderVoltageCounter" for p, c in ((1, 32), (2, 52), (3, 72))},
    **{f"1-0:{c}.36.0.4": f"(Phase[{p}])AverageRMSOverVoltageCounter" for p, c in ((1, 32), (2, 52), (3, 72))},
    # IC 4 Extended register
    "1-0:1.6.0.255": "MaximumDemandActiveEnergyImportValue",
    "1-0:1.6.1.255": "MaximumDemand(ConfigurableTime)ActivePowerImportValue",
    "1-0:2.6.0.255": "MaximumDemandActivePowerExportValue",
    # IC 7 Profile generic
    "0-0:98.1.0.255": "BillingDataLog(BillingCalendarTriggeredExcExport)",
    "0-0:98.1.1.255": "BillingDataLog(BillingCalendarTriggeredExcExport)",
    "0-0:98.1.2.255": "BillingDataLog(SetPaymentModeOrTariffTriggeredFinancialExcExport)",
    "0-0:98.1.4.255": "BillingDataLog(mostrecentPaymentBasedDebtRepayment)",
    "0-0:98.1.5.255": "BillingDataLog(mostrecentPrepaymentCredits)",
    "0-0:98.1.8.255": "PrepaymentDailyReadLog",
    "0-0:98.1.9.255": "DailyReadLog(excExport)",
    "0-0:98.1.10.255": "DailyReadLog(export)",
    "0-0:99.1.0.255": "ProfileDataLog(ActiveEnergyImportedInPeriod)",
    "0-0:99.1.1.255": "ProfileDataLog(Export)",
    "0-0:99.1.2.255": "ProfileDataLog(ReactiveImport)",
    "0-0:99.1.3.255": "DailyConsumptionLog",
    "0-0:99.98.4.255": "PowerEventLog",
    "0-0:99.98.20.255": "BoostFunctionEventLog",
    "0-17:99.98.2.255": "AuxiliaryControllerEventLog",
    **{f"1-0:{c}.24.0.255": f"(Phase[{p}])AverageRMSVoltageProfileDataLog" for p, c in ((1, 32), (2, 52), (3, 72))},
    # IC 8 Clock
    "0-0:1.0.0.255": "Time",
    # IC 9 Script table
    "0-0:10.0.100.255": "TariffBlock[1to4]CounterMatrixTOU[1to8]",
    "0-0:10.0.103.255": "AuxiliaryController[n]",
    "0-0:10.0.106.255": "SupplyState",
    "0-0:10.0.107.255": "AuxiliaryProportionalController[n]",
    # IC 10 Schedule / IC 11 Special days table
    "0-0:12.0.0.255": "MaximumDemandConfigurableTimePeriod",
    "0-0:12.0.1.255": "Non-DisablementCalendar",
    "0-0:12.0.2.255": "AuxiliaryControllerCalendar",
    "0-1:12.0.1.255": "Non-DisablementCalendar",
    "0-1:12.0.2.255": "AuxiliaryControllerCalendar",
    "0-0:11.0.0.255": "TariffSwitchingTable(SpecialDays)",
    "0-0:11.0.1.255": "TariffSwitchingTable(SecondaryElement)(SpecialDays)",
    "0-0:11.0.2.255": "Non-DisablementCalendar(SpecialDays)",
    "0-0:11.0.3.255": "AuxiliaryControllerCalendar(SpecialDays)",
    "0-1:11.0.0.255": "TariffSwitchingTable(SpecialDays)",
    "0-1:11.0.1.255": "TariffSwitchingTable(SecondaryElement)(SpecialDays)",
    "0-1:11.0.2.255": "Non-DisablementCalendar(SpecialDays)",
    "0-1:11.0.3.255": "AuxiliaryControllerCalendar(SpecialDays)",
    # IC 20 Activity calendar
    "0-0:13.0.0.255": "TariffSwitchingTable",
    "0-0:13.0.1.255": "TariffSwitchingTable(SecondaryElement)",
    # IC 21 Register monitor
    "0-0:16.0.0.255": "LowMediumPowerThreshold / MediumHighPowerThreshold",
    "0-0:16.0.1.255": "DisablementThreshold(MeterBalance)",
    **{f"0-0:16.{b}.{10 + n}.255": f"TariffThresholdMatrixBlocks[1to3]TOU[{n}]" for b in (0, 1) for n in range(1, 9)},
    # IC 22 Single action schedule
    "0-0:15.0.0.255": "BillingCalendar",
    "0-0:15.1.0.255": "TariffBlockCounterMatrix",
    # IC 30 Data protection
    "0-0:43.2.1.255": "PrepaymentBalanceCollection",
    "0-0:43.2.2.255": "BillingDataLog(BillingCalendarTriggeredExcExport)",
    "0-0:43.2.3.255": "BillingDataLog(SetPaymentModeOrTariffTriggeredFinancialExcExport)",
    "0-0:43.2.4.255": "DailyConsumptionLog",
    "0-0:43.2.5.255": "DailyReadLog(excExport)",
    "0-0:43.2.6.255": "PrepaymentDailyReadLog",
    "0-0:43.2.7.255": "ProfileDataLog(ActiveEnergyImportedInPeriod)",
    "0-0:43.2.8.255": "ImportRegisterCollection",
    "0-0:43.2.9.255": "TariffTOURegisterCollection",
    "0-0:43.2.10.255": "TariffBlockTOURegisterCollection",
    "0-0:43.2.11.255": "BillingDataLog(SetPaymentModeOrTariffTriggeredFinancialExcExport)",
    # IC 70 Disconnect control
    "0-0:96.3.10.255": "SupplyState",
    **{f"0-{n}:96.3.10.255": f"Auxiliary load control switch [{n}] state [I: RTDS 7.7_ECS61a]" for n in range(1, 6)},
    # IC 71 Limiter
    "0-0:17.0.0.255": "LoadLimit (PowerThreshold / Period / RestorationPeriod)",
    "0-0:17.0.1.255": "RMSExtremeOverVoltage (Threshold / MeasurementPeriod)",
    "0-0:17.0.2.255": "RMSExtremeUnderVoltage (Threshold / MeasurementPeriod)",
    "0-0:17.0.3.255": "RMSVoltageSag (Threshold / MeasurementPeriod)",
    "0-0:17.0.4.255": "RMSVoltageSwell (Threshold / MeasurementPeriod)",
    # IC 111-115 payment metering
    "0-0:19.0.0.255": "Account (PaymentMode, LowCreditThreshold, DebtRecoveryRateCap)",
    "0-1:19.0.0.255": "SuspendDebtDisabled / SuspendDebtEmergency / Payment Mode",
    "0-0:19.10.0.255": "MeterBalance",
    "0-0:19.10.1.255": "EmergencyCredit",
    "0-0:19.10.2.255": "AccumulatedDebtRegister",
    "0-0:19.20.0.255": "TariffBlockPriceMatrixTOU",
    "0-0:19.20.1.255": "DebtRecoveryRates[1] / TimeDebtRegisters[1]",
    "0-0:19.20.2.255": "DebtRecoveryRates[2] / TimeDebtRegisters[2]",
    "0-0:19.20.3.255": "DebtRecoveryperPayment / PaymentDebtRegister",
    "0-0:19.20.4.255": "StandingCharge",
    "0-0:19.20.5.255": "SecondaryTariffTOUPriceMatrix",
    "0-0:19.40.0.255": "PrepaymentCredit",
    # IC 9000 GBCS extended data
    "0-0:63.1.1.255": "TariffThresholdMatrix",
    "0-0:94.44.0.3": "LoadLimitSupplyState",
    "0-0:94.44.2.0": "CurrencyUnit",
    "0-0:94.44.2.10": "PrepaymentCredit(MaximumCreditThreshold)",
    "0-0:94.44.2.20": "PrepaymentCredit(MaxMeterBalance)",
    "0-0:94.44.128.2": "EmergencyCreditLimit",
    "0-0:94.44.128.3": "EmergencyCreditThreshold",
    "0-0:94.44.128.6": "LoadLimitPeriod(Timer)",
    "0-0:94.44.128.7": "LoadLimitPowerThreshold",
    "0-0:94.44.128.8": "LoadLimitRestorationPeriod(Timer)",
    "0-0:94.44.128.9": "LowCreditThreshold",
    "0-0:94.44.128.12": "DebtRecoveryRateCap",
    "0-0:94.44.128.13": "DebtRecoveryRateCap",
    "0-0:94.44.128.22": "DisablementThreshold(MeterBalance)",
    "0-0:94.44.128.26": "AuxiliaryControllerCalendar",
    "0-0:94.44.128.28": "Non-DisablementCalendar",
    "0-0:94.44.128.29": "TariffSwitchingTable(SpecialDays)",
    "0-0:94.44.128.30": "TariffSwitchingTable(SecondaryElement)(SpecialDays)",
    "0-0:94.44.128.31": "Non-DisablementCalendar(SpecialDays)",
    "0-0:94.44.128.35": "AuxiliaryControllerCalendar(SpecialDays)",
    "0-0:96.13.0.255": "ContactDetails",
    "0-0:96.13.1.255": "ContactDetails",
}

OBJECT_NAMES: dict[bytes, str] = {_obis(k): v for k, v in _OBJECTS.items()}

# ---------------------------------------------------------------------------------------------------------------
# Result codes (gbcs-parser src/dlms.ts)

DATA_ACCESS_RESULTS: dict[int, str] = {
    0: "success", 1: "hardware-fault", 2: "temporary-failure", 3: "read-write-denied", 4: "object-undefined",
    9: "object-class-inconsistent", 11: "object-unavailable", 12: "type-unmatched", 13: "scope-of-access-violated",
    14: "data-block-unavailable", 15: "long-get-aborted", 16: "no-long-get-in-progress", 17: "long-set-aborted",
    18: "no-long-set-in-progress", 19: "data-block-number-invalid", 250: "other-reason",
}

ACTION_RESULTS: dict[int, str] = {
    0: "success", 1: "hardware-fault", 2: "temporary-failure", 3: "read-write-denied", 4: "object-undefined",
    9: "object-class-inconsistent", 11: "object-unavailable", 12: "type-unmatched", 13: "scope-of-access-violated",
    14: "data-block-unavailable", 15: "long-action-aborted", 16: "no-long-action-in-progress", 250: "other-reason",
}

# IC 30 protection_parameters (Gurux enums; GBCS: 2 = authentication and encryption, key info 2 = agreed key).
PROTECTION_TYPES: dict[int, str] = {0: "authentication", 1: "encryption", 2: "authentication and encryption",
                                    3: "digital signature"}
KEY_INFO_TYPES: dict[int, str] = {0: "identified key", 1: "wrapped key", 2: "agreed key"}

# GBCS alert codes carried in DLMS data-notifications (src/util.ts alertCodes; CHF and RTDS DLMS alerts).
ALERT_CODES: dict[int, str] = {
    0x810E: "Credit Added Locally",
    0x8F12: "CHF Device Log Changed",
    0x8F20: "Limited Duty Cycle Action Taken",
    0x8F21: "Duty Cycle fallen below Normal-Limited Duty Cycle Threshold",
    0x8F22: "Critical Duty Cycle Action Taken",
    0x8F23: "Duty Cycle fallen below Limited-Critical Duty Cycle Threshold",
    0x8F24: "Regulated Duty Cycle Action Taken",
    0x8F25: "Duty Cycle fallen below Critical-Regulated Duty Cycle Threshold",
    0x8F26: "Sub GHz Channel Changed",
    0x8F27: "Sub GHz Channel Scan initiated",
    0x8F28: "Sub GHz Channel Scan Request Assessment Outcome",
    0x8F29: "Three Lost GSME Searches Failed",
    0x8F2A: "Sub GHz Configuration Changed",
    0x8F2B: "Sub GHz Channel not changed due to Frequency Agility Parameters",
    0x8F2C: "Message Discarded Due to Duty Cycle Management",
    0x8F2D: "No More Sub GHz Device Capacity",
    0x8F30: "Source Does not have Authority for Command",
    0x8F36: "Supply Outage Restored - Outage >= 3 minutes",
    0x8F66: "Future-date HAN Interface Command Successfully Actioned",
    0x8F67: "Future-date HAN Interface Command not Successfully Actioned",
    0x8F72: "Firmware Verification Successful",
    0x8F89: "Firmware transfer alert FAIL",
    0x8F8A: "Firmware transfer alert SUCCESS",
}


def class_name(class_id: int) -> str:
    return CLASS_NAMES.get(class_id, f"IC {class_id}")


def attribute_name(class_id: int, attribute: int) -> str:
    if attribute == 1:
        return "logical_name"
    return ATTRIBUTES.get(class_id, {}).get(attribute, f"attribute {attribute}")


def method_name(class_id: int, method: int) -> str:
    return METHODS.get(class_id, {}).get(method, f"method {method}")


def selector_name(class_id: int, selector: int | None) -> str | None:
    if selector is None:
        return None
    return SELECTORS.get(class_id, {}).get(selector)


def object_name(obis: bytes) -> str | None:
    return OBJECT_NAMES.get(bytes(obis))


def data_access_result_name(code: int) -> str:
    return DATA_ACCESS_RESULTS.get(code, "reserved")


def action_result_name(code: int) -> str:
    return ACTION_RESULTS.get(code, "reserved")


def alert_name(code: int) -> str | None:
    return ALERT_CODES.get(code)
