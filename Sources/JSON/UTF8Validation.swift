/// Whether bytes are well-formed UTF-8: shortest forms only, nothing above U+10FFFF, and no
/// UTF-16 surrogates unless asked (Python's pickle writes str with "surrogatepass", and reads
/// such strings back). Lua strings are bytes, so every encoder that promises text checks here.
public enum UTF8Validation {
    public static func isValid(_ b: UnsafeRawBufferPointer, allowingSurrogates: Bool = false) -> Bool {
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c < 0x80 { i += 1; continue }
            var need = 0
            var min: UInt32 = 0
            var cp: UInt32 = 0
            if c & 0xE0 == 0xC0 { need = 1; min = 0x80; cp = UInt32(c & 0x1F) }
            else if c & 0xF0 == 0xE0 { need = 2; min = 0x800; cp = UInt32(c & 0x0F) }
            else if c & 0xF8 == 0xF0 { need = 3; min = 0x10000; cp = UInt32(c & 0x07) }
            else { return false }
            guard i + need < n else { return false }
            for k in 1...need {
                let d = b[i + k]
                guard d & 0xC0 == 0x80 else { return false }
                cp = cp << 6 | UInt32(d & 0x3F)
            }
            guard cp >= min, cp <= 0x10FFFF, allowingSurrogates || !(0xD800...0xDFFF).contains(cp) else { return false }
            i += need + 1
        }
        return true
    }

    public static func isValid(_ b: [UInt8], allowingSurrogates: Bool = false) -> Bool {
        b.withUnsafeBytes { isValid($0, allowingSurrogates: allowingSurrogates) }
    }
}
