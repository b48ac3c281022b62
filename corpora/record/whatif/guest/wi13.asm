; wi13.asm: the what-if experiments' BIOS guest: a floppy boot program that loops over
; INT 13h calls the way a DOS program does (AH=00 reset, AH=02 read, AH=03 write, up to 3
; tries per call with AH=00 between), so that the host can migrate it at random instants and
; see what the BIOS (SeaBIOS or Bochs BIOS) and the program get back afterwards.
; Build: nasm -f bin -o wi13.bin wi13.asm; the harness puts it at the start of a 1.44 MB image
; (the rest a deterministic pattern) and boots it with -boot a.
;
; Sector 0 loads stage 2 (LBA 1-8) to 0:7E00.  Markers "MARK <label>\n" go to COM2 (0x2F8),
; results to COM1 (0x3F8), one line per iteration:
;   IT nn W=aa/t R=aa/t B=aa/t CMP=0|1 SUM=xxxxxxxx
; (aa = AH of the last try, t = tries used, W write of C60+(nn mod 10) H(nn&1) S1-18 with a
; pattern that depends on nn, R read of C(nn*7 mod 50)+1 H(nn&1) S1-18 summed into SUM,
; B read back of the written track compared with what was written), and at the end
;   WI13 iterations=nn ioerr=xxxx retries=xxxx cmperr=xxxx sum=xxxxxxxx
; Loop: MARK wi-start; ITERATIONS x (AH=00, write, read, read back, MARK wi-it, wait for the
; next BIOS tick); MARK wi-end; MARK done; ACPI power off.

bits 16
org 0x7C00

COM1        equ 0x3F8
COM2        equ 0x2F8
STAGE2      equ 0x7E00
STAGE2_SECS equ 8
RBUF        equ 0x1000          ; read buffer segment (phys 0x10000)
WBUF        equ 0x2000          ; write buffer segment (phys 0x20000)
ITERATIONS  equ 48

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00
    sti
    cld
    mov [bootdrv], dl
    mov si, s_boot
    call mark
    mov ax, 0x0200 | STAGE2_SECS
    mov cx, 0x0002
    xor dh, dh
    mov dl, [bootdrv]
    mov bx, STAGE2
    int 0x13
    jc .fail
    jmp stage2
.fail:
    mov si, s_bootfail
    call mark
    jmp poweroff

mark:                           ; SI -> name: "MARK <name>\n" on COM2
    push ax
    push si
    push si
    mov si, s_markprefix
    call com2_str
    pop si
    call com2_str
    mov al, 10
    call com2_ch
    pop si
    pop ax
    ret

com2_str:
    lodsb
    test al, al
    jz .done
    call com2_ch
    jmp com2_str
.done:
    ret

com2_ch:
    push dx
    push ax
    mov dx, COM2 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop ax
    mov dx, COM2
    out dx, al
    pop dx
    ret

poweroff:
    mov dx, 0xB004              ; PIIX4 PM1a_CNT (both BIOSes put the PM base at 0xB000)
    mov ax, 0x2000
    out dx, ax
    lidt [null_idt]
    int 3
    jmp $

null_idt:   dw 0, 0, 0
bootdrv:    db 0
s_markprefix: db "MARK ", 0
s_boot:     db "boot", 0
s_bootfail: db "boot-failed", 0

    times 510 - ($ - $$) db 0
    dw 0xAA55

; ---------------------------------------------------------------- stage 2 --
stage2:
    mov si, s_reset
    call mark
    mov ah, 0x00
    mov dl, [bootdrv]
    int 0x13
    mov si, s_start
    call mark
    mov byte [it], 0
.loop:
    inc byte [it]
    ; AH=00 (a DOS program resets before a batch of calls)
    mov ah, 0x00
    mov dl, [bootdrv]
    int 0x13
    ; ---- write C60+(it mod 10) H(it&1) with pattern(it)
    mov al, [it]
    mov ah, 13
    mul ah                      ; AL = it*13: the pattern's first byte
    call fill_wbuf
    mov al, [it]
    xor ah, ah
    mov bl, 10
    div bl                      ; AH = it mod 10
    add ah, 60
    mov [wcyl], ah
    mov al, [it]
    and al, 1
    mov [whead], al
    mov byte [op], 0x03
    mov ax, WBUF
    mov [seg_], ax
    mov al, [wcyl]
    mov [ccyl], al
    mov al, [whead]
    mov [chead], al
    call do_op
    mov [w_ah], ah
    mov [w_t], cl
    ; ---- read C(it*7 mod 50)+1 H(it&1), sum it
    mov al, [it]
    mov ah, 7
    mul ah
    mov bl, 50
    div bl                      ; AH = it*7 mod 50
    inc ah
    mov [ccyl], ah
    mov al, [whead]
    mov [chead], al
    mov byte [op], 0x02
    mov ax, RBUF
    mov [seg_], ax
    call do_op
    mov [r_ah], ah
    mov [r_t], cl
    jc .nosum
    call sum_buffer
.nosum:
    ; ---- read back the written track, compare
    mov al, [wcyl]
    mov [ccyl], al
    mov al, [whead]
    mov [chead], al
    mov byte [op], 0x02
    mov ax, RBUF
    mov [seg_], ax
    call do_op
    mov [b_ah], ah
    mov [b_t], cl
    mov byte [cmp1], 1
    jc .nocmp
    call compare
    mov [cmp1], al
.nocmp:
    call print_it
    mov si, s_it
    call mark
    ; wait for the next BIOS tick (~55 ms) with interrupts on
    sti
    mov eax, [0x046C]
.tick:
    hlt
    cmp eax, [0x046C]
    je .tick
    cmp byte [it], ITERATIONS
    jb .loop

    mov si, s_end
    call mark
    mov si, r_wi13
    call com1_str
    mov al, [it]
    call com1_hex8
    mov si, r_ioerr
    call com1_str
    mov ax, [ioerr]
    call com1_hex16
    mov si, r_retries
    call com1_str
    mov ax, [retries]
    call com1_hex16
    mov si, r_cmperr
    call com1_str
    mov ax, [cmperr]
    call com1_hex16
    mov si, r_sum
    call com1_str
    mov ax, [sum + 2]
    call com1_hex16
    mov ax, [sum]
    call com1_hex16
    mov al, 10
    call com1_ch
    mov si, s_done
    call mark
    mov dx, COM1 + 5
.drain:
    in al, dx
    test al, 0x40
    jz .drain
    jmp poweroff

; do_op: INT 13h [op] of 18 sectors at [ccyl]/[chead] S1, buffer [seg_]:0, up to 3 tries
; with AH=00 between.  Returns AH (last try), CL = tries used, CF = failed.
do_op:
    mov byte [tries], 0
.try:
    inc byte [tries]
    mov ax, [seg_]
    mov es, ax
    xor bx, bx
    mov ah, [op]
    mov al, 18
    mov ch, [ccyl]
    mov cl, 1
    mov dh, [chead]
    mov dl, [bootdrv]
    int 0x13
    jnc .ok
    mov [last_ah], ah
    cmp byte [tries], 3
    jae .fail
    inc word [retries]
    mov ah, 0x00
    mov dl, [bootdrv]
    int 0x13
    jmp .try
.fail:
    inc word [ioerr]
    xor ax, ax
    mov es, ax
    mov ah, [last_ah]
    mov cl, [tries]
    stc
    ret
.ok:
    xor ax, ax
    mov es, ax
    mov cl, [tries]
    clc
    ret

sum_buffer:                     ; add the 18*512 bytes at RBUF:0 to [sum]
    push es
    push si
    mov ax, RBUF
    mov es, ax
    xor si, si
    mov cx, 18 * 512
    mov edx, [sum]
.l: movzx eax, byte [es:si]
    add edx, eax
    rol edx, 1
    inc si
    loop .l
    mov [sum], edx
    pop si
    pop es
    ret

fill_wbuf:                      ; WBUF:0..18*512 = AL + i*7
    push es
    push di
    push cx
    mov cx, WBUF
    mov es, cx
    xor di, di
    mov cx, 18 * 512
.l: stosb
    add al, 7
    loop .l
    pop cx
    pop di
    pop es
    ret

compare:                        ; RBUF vs WBUF, 18*512 bytes: AL = 0 equal, 1 differ
    push ds
    push es
    push si
    push di
    mov ax, RBUF
    mov ds, ax
    mov ax, WBUF
    mov es, ax
    xor si, si
    xor di, di
    mov cx, 18 * 512
    repe cmpsb
    pop di
    pop si
    pop es
    pop ds
    mov al, 0
    je .r
    inc word [cmperr]
    mov al, 1
.r: ret

print_it:                       ; IT nn W=aa/t R=aa/t B=aa/t CMP=c SUM=xxxxxxxx
    mov si, r_it
    call com1_str
    mov al, [it]
    call com1_hex8
    mov si, r_w
    call com1_str
    mov al, [w_ah]
    mov ah, [w_t]
    call ah_tries
    mov si, r_r
    call com1_str
    mov al, [r_ah]
    mov ah, [r_t]
    call ah_tries
    mov si, r_b
    call com1_str
    mov al, [b_ah]
    mov ah, [b_t]
    call ah_tries
    mov si, r_cmp
    call com1_str
    mov al, [cmp1]
    add al, '0'
    call com1_ch
    mov si, r_sum
    call com1_str
    mov ax, [sum + 2]
    call com1_hex16
    mov ax, [sum]
    call com1_hex16
    mov al, 13
    call com1_ch
    mov al, 10
    call com1_ch
    ret

ah_tries:                       ; AL = status, AH = tries: "aa/t"
    push ax
    call com1_hex8
    mov al, '/'
    call com1_ch
    pop ax
    mov al, ah
    add al, '0'
    call com1_ch
    ret

com1_str:
    lodsb
    test al, al
    jz .d
    call com1_ch
    jmp com1_str
.d: ret

com1_ch:
    push dx
    push ax
    mov dx, COM1 + 5
.w: in al, dx
    test al, 0x20
    jz .w
    pop ax
    mov dx, COM1
    out dx, al
    pop dx
    ret

com1_hex16:
    push ax
    mov al, ah
    call com1_hex8
    pop ax
com1_hex8:
    push ax
    shr al, 4
    call .nib
    pop ax
.nib:
    push ax
    and al, 15
    add al, '0'
    cmp al, '9'
    jbe .p
    add al, 7
.p: call com1_ch
    pop ax
    ret

s_reset:    db "reset", 0
s_start:    db "wi-start", 0
s_it:       db "wi-it", 0
s_end:      db "wi-end", 0
s_done:     db "done", 0
r_it:       db "IT ", 0
r_w:        db " W=", 0
r_r:        db " R=", 0
r_b:        db " B=", 0
r_cmp:      db " CMP=", 0
r_sum:      db " SUM=", 0
r_wi13:     db "WI13 iterations=", 0
r_ioerr:    db " ioerr=", 0
r_retries:  db " retries=", 0
r_cmperr:   db " cmperr=", 0

align 4
sum:        dd 0
seg_:       dw 0
ioerr:      dw 0
retries:    dw 0
cmperr:     dw 0
it:         db 0
op:         db 0
ccyl:       db 0
chead:      db 0
wcyl:       db 0
whead:      db 0
tries:      db 0
last_ah:    db 0
w_ah:       db 0
w_t:        db 0
r_ah:       db 0
r_t:        db 0
b_ah:       db 0
b_t:        db 0
cmp1:       db 0

stage2_end:
%if stage2_end - stage2 > STAGE2_SECS * 512
%error "stage 2 does not fit in STAGE2_SECS sectors"
%endif
    times (1 + STAGE2_SECS) * 512 - ($ - $$) db 0
