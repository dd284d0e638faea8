# Encrypt values the way Thunderbird and Firefox do for logins.json: with
# NSS's own PK11SDR_Encrypt (secret decoder ring, NULL key id: the
# database's default SDR key, created on first use) on the key4.db in the
# directory given as the only argument.
#
# stdin: the primary password on the first line (empty when none is set),
# then one value per line. stdout: the base64 of each encrypted value, one
# per line, as logins.json stores them.
import base64
import ctypes
import sys


class SECItem(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint), ("data", ctypes.c_void_p), ("len", ctypes.c_uint)]


def main():
    nss = ctypes.CDLL("libnss3.so")
    nss.NSS_InitReadWrite.argtypes = [ctypes.c_char_p]
    nss.PK11_GetInternalKeySlot.restype = ctypes.c_void_p
    nss.PK11_CheckUserPassword.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    nss.PK11_FreeSlot.argtypes = [ctypes.c_void_p]
    p = ctypes.POINTER(SECItem)
    nss.PK11SDR_Encrypt.argtypes = [p, p, p, ctypes.c_void_p]
    nss.SECITEM_ZfreeItem.argtypes = [p, ctypes.c_int]

    lines = sys.stdin.read().split("\n")
    password, values = lines[0], [v for v in lines[1:] if v != ""]
    if nss.NSS_InitReadWrite(("sql:" + sys.argv[1]).encode()) != 0:
        sys.exit("NSS_InitReadWrite failed")
    slot = nss.PK11_GetInternalKeySlot()
    if password and nss.PK11_CheckUserPassword(slot, password.encode()) != 0:
        sys.exit("PK11_CheckUserPassword refused the password")
    for v in values:
        raw = v.encode()
        buf = ctypes.create_string_buffer(raw, len(raw))
        data = SECItem(0, ctypes.cast(buf, ctypes.c_void_p), len(raw))
        keyid = SECItem(0, None, 0)
        out = SECItem(0, None, 0)
        if nss.PK11SDR_Encrypt(ctypes.byref(keyid), ctypes.byref(data), ctypes.byref(out), None) != 0:
            sys.exit("PK11SDR_Encrypt failed")
        print(base64.b64encode(ctypes.string_at(out.data, out.len)).decode())
        nss.SECITEM_ZfreeItem(ctypes.byref(out), 0)
    nss.PK11_FreeSlot(slot)
    if nss.NSS_Shutdown() != 0:
        sys.exit("NSS_Shutdown failed")


main()
